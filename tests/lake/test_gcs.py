"""The lake on Google Cloud Storage, against gcp-storage-emulator started by the tests."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datapipeline import cli, jobs
from datapipeline.errors import LakeError
from datapipeline.lake import Lake, RetryPolicy

FAST_RETRY = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01, request_seconds=0.5)


def _outputs(folder: Path) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in ("graph.json", "rejected_rows.jsonl")}


def test_main_job_with_lake_on_emulator_matches_local_run(
    tiny_inputs: Path, tmp_path: Path, gcs_emulator, gcs_bucket: str
) -> None:
    code = cli.main(
        [
            "run",
            "--data-dir",
            str(tiny_inputs),
            "--lake",
            f"gs://{gcs_bucket}/lake",
            "--output-dir",
            str(tmp_path / "out-gcs"),
        ]
    )
    assert code == 0
    jobs.run(tiny_inputs, str(tmp_path / "local-lake"), tmp_path / "out-local")

    # The lake's tables, one part each (small files share one); _state/ holds the manifest and
    # the caches (tested in tests/run/)
    names = [n for n in gcs_emulator.object_names(gcs_bucket) if not n.startswith("lake/_state/")]
    assert [n.split("/")[1] for n in names] == [
        "clinical_trials",
        "drugs",
        "graph_edges",
        "graph_nodes",
        "pubmed",
    ]
    held = Lake(f"gs://{gcs_bucket}/lake").manifest()
    assert sorted(Path(f.entry.source).name for f in held.sources("pubmed")) == [
        "pubmed.csv",
        "pubmed.json",
    ]
    # the graph's tables, copied from the output folder into the bucket
    bucket = gcs_emulator.client().bucket(gcs_bucket)
    for table in ("nodes", "edges"):
        copied = bucket.blob(f"lake/graph_{table}/graph.parquet").download_as_bytes()
        assert copied == (tmp_path / "out-gcs" / f"graph_{table}.parquet").read_bytes()
    (drugs_part,) = [n for n in names if n.startswith("lake/drugs/")]
    blob = gcs_emulator.client().bucket(gcs_bucket).blob(drugs_part)
    data = blob.download_as_bytes()
    assert data[:4] == b"PAR1"
    assert data[-4:] == b"PAR1"
    assert pq.read_table(pa.BufferReader(data)).num_rows == 5

    local = _outputs(tmp_path / "out-local")
    assert _outputs(tmp_path / "out-gcs") == local
    assert json.loads(local["graph.json"])["nodes"]  # a real graph, not two empty files

    # The process job alone, reading its input folder from the bucket: same graph again.
    code = cli.main(
        [
            "process",
            "--input_folder",
            f"gs://{gcs_bucket}/lake",
            "--output_folder",
            str(tmp_path / "out-process"),
        ]
    )
    assert code == 0
    assert _outputs(tmp_path / "out-process") == local


def test_import_bucket_name_writes_to_bucket_and_is_idempotent(
    tiny_inputs: Path, gcs_emulator, gcs_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["import", "--source", str(tiny_inputs / "drugs.csv"), "--source_type", "csv"]
    args += ["--dest_table", "drugs", "--bucket_name", gcs_bucket, "--output_folder", "raw"]
    assert cli.main(args) == 0
    assert f"gs://{gcs_bucket}/raw/drugs" in capsys.readouterr().out
    first = gcs_emulator.object_names(gcs_bucket)
    (part,) = first  # one part, named after the source's key
    assert part.startswith("raw/drugs/src-")

    assert cli.main(args) == 0
    assert gcs_emulator.object_names(gcs_bucket) == first
    table = Lake(f"gs://{gcs_bucket}/raw").read_table("drugs")
    assert table.num_rows == 5
    assert sorted(table.column("name").to_pylist()) == [
        "ATROPINE",
        "BETAMETHASONE",
        "DIPHENHYDRAMINE",
        "ETHANOL",
        "TETRACYCLINE",
    ]


def test_rerun_replaces_tables_and_drops_stale_parts(
    tiny_inputs: Path, tmp_path: Path, gcs_emulator, gcs_bucket: str
) -> None:
    lake = f"gs://{gcs_bucket}/lake"
    jobs.run(tiny_inputs, lake, tmp_path / "out1")
    (first,) = gcs_emulator.object_names(gcs_bucket, "lake/pubmed/")
    (tiny_inputs / "pubmed.json").unlink()
    jobs.run(tiny_inputs, lake, tmp_path / "out2")
    # the part that held pubmed.json too was written again without it, then deleted
    (second,) = gcs_emulator.object_names(gcs_bucket, "lake/pubmed/")
    assert second != first
    held = Lake(lake).manifest().sources("pubmed")
    assert [Path(f.entry.source).name for f in held] == ["pubmed.csv"]
    assert Lake(lake).read_table("pubmed").num_rows == 4
    assert Lake(lake).table_names() == [
        "clinical_trials",
        "drugs",
        "graph_edges",
        "graph_nodes",
        "pubmed",
    ]


def test_emulator_host_without_scheme(gcs_emulator, gcs_bucket: str, monkeypatch) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.host.removeprefix("http://"))
    lake = Lake(f"gs://{gcs_bucket}/p")
    lake.write_part("t", "one", pa.table({"a": ["x", "y"]}))
    assert gcs_emulator.object_names(gcs_bucket) == ["p/t/one.parquet"]
    assert lake.read_table("t").column("a").to_pylist() == ["x", "y"]


def test_missing_bucket_is_one_clear_line(
    tiny_inputs: Path, gcs_emulator, gcs_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"{gcs_bucket}-missing"
    code = cli.main(
        [
            "import",
            "--source",
            str(tiny_inputs / "drugs.csv"),
            "--source_type",
            "csv",
            "--dest_table",
            "drugs",
            "--bucket_name",
            missing,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"error: gs://{missing}/imported_data: bucket '{missing}' not found")
    assert "Traceback" not in err
    assert gcs_emulator.client().lookup_bucket(missing) is None  # not created behind our back


def test_transient_errors_are_retried_then_succeed(gcs_bucket: str) -> None:
    lake = Lake(f"gs://{gcs_bucket}/p", retry=RetryPolicy(attempts=3, base_delay=0.01))
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("google::cloud::Status(UNAVAILABLE: Retry policy exhausted, with a last")
        return "ok"

    assert lake._call("do it", flaky) == "ok"
    assert len(calls) == 3


def test_permanent_errors_are_not_retried(gcs_bucket: str) -> None:
    lake = Lake(f"gs://{gcs_bucket}/p", retry=RetryPolicy(attempts=5, base_delay=0.01))
    calls = []

    def forbidden() -> None:
        calls.append(1)
        raise PermissionError("google::cloud::Status(PERMISSION_DENIED: Permanent error)")

    with pytest.raises(LakeError, match="permission denied to do it") as caught:
        lake._call("do it", forbidden)
    assert not caught.value.transient
    assert len(calls) == 1


def test_unreachable_endpoint_is_transient_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    with pytest.raises(LakeError) as caught:
        Lake("gs://bucket/lake", retry=FAST_RETRY).read_table("drugs")
    message = str(caught.value)
    assert caught.value.transient
    assert "\n" not in message
    assert message.startswith("gs://bucket/lake: storage endpoint")
    assert "unreachable" in message
    assert "after 2 attempts" in message


class _Denied(BaseHTTPRequestHandler):
    """Answers every request with 403, as Cloud Storage does without the role."""

    requests: list[str]

    def _deny(self) -> None:
        self.requests.append(f"{self.command} {self.path}")
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = b'{"error": {"code": 403, "message": "caller does not have storage.objects"}}'
        self.send_response(403)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _deny

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def denying_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    requests: list[str] = []
    handler = type("Denied", (_Denied,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{server.server_address[1]}")
    yield requests
    server.shutdown()
    server.server_close()
    thread.join()


def test_permission_denied_is_one_line_and_not_retried(denying_endpoint: list[str]) -> None:
    lake = Lake("gs://locked/lake", retry=RetryPolicy(attempts=4, base_delay=0.01))
    with pytest.raises(LakeError) as caught:
        lake.write_part("drugs", "p", pa.table({"a": ["x"]}))
    message = str(caught.value)
    assert not caught.value.transient
    assert message.startswith("gs://locked/lake: permission denied to write gs://locked/lake/")
    assert "roles/storage.objectAdmin" in message
    # One bucket lookup (tolerated: object roles cannot read it) and one upload, no retry.
    assert len(denying_endpoint) == 2


def test_missing_credentials_say_how_to_get_them(gcs_bucket: str) -> None:
    # The message google-cloud-cpp gives when no Application Default Credentials exist.
    no_adc = OSError(
        "google::cloud::Status(UNAVAILABLE: Retry policy exhausted, with a last message of "
        "Could not create a OAuth2 access token to authenticate the request. The request was "
        "not sent, as such an access token is required to complete the request successfully."
    )
    lake = Lake(f"gs://{gcs_bucket}/p", retry=RetryPolicy(attempts=3, base_delay=0.01))
    calls = []

    def no_credentials() -> None:
        calls.append(1)
        raise no_adc

    with pytest.raises(LakeError, match="gcloud auth application-default login") as caught:
        lake._call("list table 'drugs'", no_credentials)
    assert not caught.value.transient
    assert len(calls) == 1
