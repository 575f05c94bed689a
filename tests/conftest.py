"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared; in CI its absence fails the test instead of skipping it."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI must run with ../shared beside the repo")
        pytest.skip(f"{path} not available outside CI")
    return path


@pytest.fixture
def servier_dir() -> Path:
    """The public test's four input files, read in place."""
    return shared_path("reference-data", "servier-test")


WriteData = Callable[..., Path]

EMPTY_SOURCES: dict[str, str | bytes] = {
    "drugs.csv": "atccode,drug\n",
    "pubmed.csv": "id,title,date,journal\n",
    "pubmed.json": "[]",
    "clinical_trials.csv": "id,scientific_title,date,journal\n",
}


@pytest.fixture
def write_data(tmp_path: Path) -> WriteData:
    """Write a ``--data-dir`` folder: the given files (name → text or bytes) over empty sources."""

    def write(files: dict[str, str | bytes], folder: str = "data") -> Path:
        root = tmp_path / folder
        root.mkdir(parents=True, exist_ok=True)
        for name, content in {**EMPTY_SOURCES, **files}.items():
            path = root / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return root

    return write
