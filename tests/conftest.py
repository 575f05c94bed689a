"""Shared fixtures: data folders, ../shared, and a Cloud Storage emulator for the session."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: ../shared beside the repository; DATAPIPELINE_SHARED_DIR points elsewhere (a git worktree
#: that does not sit beside it).
SHARED = Path(os.environ.get("DATAPIPELINE_SHARED_DIR") or REPO.parent / "shared")


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
        return write_folder(tmp_path / folder, {**EMPTY_SOURCES, **files})

    return write


def write_folder(root: Path, files: dict[str, str | bytes | None]) -> Path:
    """Write ``files`` (name → text or bytes) into ``root``; a ``None`` value writes nothing."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        if content is None:
            continue
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


TINY_INPUTS = {
    "drugs.csv": """atccode,drug
A04AD,DIPHENHYDRAMINE
S03AA,TETRACYCLINE
V03AB,ETHANOL
R01AD,BETAMETHASONE
A03BA,ATROPINE
""",
    "pubmed.csv": """id,title,date,journal
1,"Diphenhydramine helps symptoms of fish poisoning.",01/01/2019,"Journal of emergency nursing"
2,"Tetracycline resistance patterns.",2020-01-02,"Journal of food protection"
3,"Ethanol and tetracycline in rats.",1 January 2020,"The journal of pediatrics"
4,"No date here, diphenhydramine",,"Journal of food protection"
""",
    "pubmed.json": """[
  {"id": 10, "title": "Betamethasone administration after birth", "date": "01/03/2020",
   "journal": "The journal of pediatrics"},
  {"id": 11, "title": "Nothing relevant here", "date": "2020-03-02",
   "journal": "Journal of food protection"}
]
""",
    "clinical_trials.csv": """id,scientific_title,date,journal
NCT1,"Diphenhydramine as an adjunctive sedative","1 January 2020","Journal of emergency nursing"
NCT2,"Betamethasone in preterm birth","27 April 2020","Journal of emergency nursing"
NCT3,"Betamethasone in preterm birth","27 April 2020","Journal of emergency nursing"
""",
}


def write_tiny_inputs(folder: Path) -> Path:
    """Write the four-source input set into ``folder`` (the ``--data-dir`` layout)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in TINY_INPUTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def tiny_inputs(tmp_path: Path) -> Path:
    """A ``--data-dir`` folder with drugs, PubMed (CSV and JSON) and clinical trials."""
    return write_tiny_inputs(tmp_path / "inputs")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gcp-storage-emulator exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"gcp-storage-emulator did not listen on port {port} in {timeout}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the emulator's whole process group: nothing is left running."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@dataclass
class GcsEmulator:
    """A running ``gcp-storage-emulator``: its URL and a storage client talking to it."""

    host: str

    def client(self):  # type: ignore[no-untyped-def]
        """A google-cloud-storage client bound to the emulator (anonymous)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="test-project",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.host},
        )

    def new_bucket(self) -> str:
        """Create a bucket with a fresh name and return the name."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(name)
        return name

    def object_names(self, bucket: str, prefix: str = "") -> list[str]:
        """The names of the bucket's objects under ``prefix``, sorted."""
        return sorted(b.name for b in self.client().list_blobs(bucket, prefix=prefix or None))


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    """``gcp-storage-emulator`` on 127.0.0.1 and a free port, in memory, for the session."""
    log = tmp_path_factory.mktemp("gcs-emulator") / "emulator.log"
    for _attempt in range(3):  # another process may take the free port before the emulator
        port = _free_port()
        with log.open("ab") as out:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gcp_storage_emulator",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--in-memory",
                    "--quiet",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group, killed whole at teardown
            )
        try:
            _wait_for_port(port, process, timeout=30)
        except RuntimeError:
            _stop(process)
            continue
        try:
            yield GcsEmulator(host=f"http://127.0.0.1:{port}")
        finally:
            _stop(process)
        return
    raise RuntimeError(f"gcp-storage-emulator did not start; see {log}")


@pytest.fixture
def gcs_bucket(gcs_emulator: GcsEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the emulator, with ``STORAGE_EMULATOR_HOST`` set for the test."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.host)
    return gcs_emulator.new_bucket()
