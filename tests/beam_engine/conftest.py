"""Fixtures of the Beam engine's tests: a ``gs://`` output folder on the storage emulator."""

from __future__ import annotations

import pytest

from tests.conftest import GcsEmulator


@pytest.fixture
def remote(gcs_emulator: GcsEmulator, gcs_bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``gs://<a new bucket>/out``; Beam's GCS client talks to the emulator anonymously (it
    would otherwise look for credentials for half a minute first)."""
    from apache_beam.internal.gcp import auth

    monkeypatch.setattr(auth, "get_service_credentials", lambda options: None)
    return f"gs://{gcs_bucket}/out"


def objects(emulator: GcsEmulator, url: str) -> dict[str, bytes]:
    """Every object under ``url`` (gs://bucket/prefix), by name below it."""
    bucket, prefix = url.removeprefix("gs://").split("/", 1)
    return {
        blob.name.removeprefix(f"{prefix}/"): blob.download_as_bytes()
        for blob in emulator.client().list_blobs(bucket, prefix=f"{prefix}/")
    }
