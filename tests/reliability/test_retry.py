"""Transient faults: storage calls retried with backoff, permanent errors at once.

Faults are injected by patching the pyarrow calls the lake makes (failing N times, then
succeeding); sleeping is replaced by a recorder, so no test waits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from datapipeline import retry
from datapipeline.cli import main
from datapipeline.errors import DataPipelineError, InputError, LakeError
from datapipeline.lake import Lake
from datapipeline.lake.parts import single_source_part
from datapipeline.retry import RetryPolicy, is_transient

GCS_UNAVAILABLE = (
    "google::cloud::Status(UNAVAILABLE: Retry policy exhausted, with a last message of "
    "PerformWork() - CURL error [7]=Could not connect to server)"
)


class Transient(DataPipelineError):
    transient = True


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionResetError("reset by peer"), True),
        (ConnectionRefusedError(), True),
        (TimeoutError("read timed out"), True),
        (OSError(GCS_UNAVAILABLE), True),
        (OSError("google::cloud::Status(DEADLINE_EXCEEDED: slow)"), True),
        (OSError("google::cloud::Status(RESOURCE_EXHAUSTED: 429 Too Many Requests)"), True),
        (Transient("database locked"), True),
        (OSError("google::cloud::Status(PERMISSION_DENIED: no access to bucket)"), False),
        (OSError("google::cloud::Status(NOT_FOUND: no such bucket)"), False),
        (FileNotFoundError("gone"), False),
        (PermissionError("denied, timed out"), False),  # the type wins over the text
        (InputError("bad row"), False),
        (ValueError("bug"), False),
    ],
    ids=repr,
)
def test_which_errors_are_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


class Flaky:
    """A callable failing with ``error`` ``failures`` times, then returning ``result``."""

    def __init__(self, failures: int, error: BaseException, result: object = "ok") -> None:
        self.failures, self.error, self.result, self.calls = failures, error, result, 0

    def __call__(self, *args: object, **kwargs: object) -> object:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return self.result


def policy(sleeps: list[float], attempts: int = 5) -> RetryPolicy:
    return RetryPolicy(
        attempts=attempts, base_delay=1.0, max_delay=8.0, sleep=sleeps.append, random=lambda: 1.0
    )


def test_transient_errors_are_retried_with_exponential_backoff() -> None:
    sleeps: list[float] = []
    call = Flaky(3, ConnectionResetError("reset"))
    assert policy(sleeps).call(call) == "ok"
    assert call.calls == 4
    # random() = 1.0 is the top of the jitter range: 1, 2, 4 (doubling, below max_delay)
    assert sleeps == [pytest.approx(1.0), pytest.approx(2.0), pytest.approx(4.0)]


def test_backoff_is_capped_and_jittered() -> None:
    low = RetryPolicy(base_delay=1.0, max_delay=8.0, random=lambda: 0.0)
    high = RetryPolicy(base_delay=1.0, max_delay=8.0, random=lambda: 0.999)
    assert [low.delay(n) for n in (1, 2, 3, 4, 5, 9)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert high.delay(9) == pytest.approx(8.0, abs=0.01)
    assert all(low.delay(n) < high.delay(n) for n in range(1, 8))


def test_retries_stop_after_max_attempts_with_the_last_error() -> None:
    sleeps: list[float] = []
    call = Flaky(10, TimeoutError("timed out"))
    with pytest.raises(TimeoutError):
        policy(sleeps, attempts=4).call(call)
    assert call.calls == 4
    assert len(sleeps) == 3


@pytest.mark.parametrize(
    "error", [FileNotFoundError("x"), InputError("bad"), ValueError("bug")], ids=repr
)
def test_permanent_errors_fail_at_once(error: BaseException) -> None:
    sleeps: list[float] = []
    call = Flaky(1, error)
    with pytest.raises(type(error)):
        policy(sleeps).call(call)
    assert call.calls == 1
    assert sleeps == []


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The lake's retry policy, with sleeping recorded instead of done."""
    recorded: list[float] = []
    monkeypatch.setattr(retry, "DEFAULT_POLICY", policy(recorded))
    return recorded


def flaky_function(
    monkeypatch: pytest.MonkeyPatch, target: Any, name: str, failures: int, error: BaseException
) -> Callable[[], int]:
    """Patch ``target.name`` to fail ``failures`` times before calling the real one."""
    real = getattr(target, name)
    calls = {"n": 0}

    def patched(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, patched)
    return lambda: calls["n"]


def table() -> pa.Table:
    return pa.table({"v": pa.array(["a", "b"])})


def test_a_lake_write_survives_transient_upload_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    calls = flaky_function(monkeypatch, pq, "write_table", 2, OSError(GCS_UNAVAILABLE))
    lake = Lake(tmp_path)
    lake.write_part("t", "p", table())
    assert calls() == 3
    assert len(sleeps) == 2
    assert lake.read_table("t")["v"].to_pylist() == ["a", "b"]


def test_a_lake_read_survives_transient_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    lake = Lake(tmp_path)
    lake.replace_table("t", [("p", table())])
    calls = flaky_function(monkeypatch, pq, "read_table", 3, ConnectionResetError("reset"))
    assert lake.read_table("t").num_rows == 2
    assert calls() == 4
    assert len(sleeps) == 3


class _Handler(pafs.FileSystemHandler):
    """A local filesystem whose listing, renames and writes fail transiently a few times."""

    def __init__(self, root: pafs.FileSystem, failures: dict[str, int]) -> None:
        self.fs, self.failures, self.calls = root, failures, {k: 0 for k in failures}

    def _maybe_fail(self, operation: str) -> None:
        if operation in self.failures:
            self.calls[operation] += 1
            if self.calls[operation] <= self.failures[operation]:
                raise OSError(f"google::cloud::Status(UNAVAILABLE: {operation} failed)")

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def get_type_name(self) -> str:
        return "flaky"

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        self._maybe_fail("info")
        return self.fs.get_file_info(paths)  # type: ignore[no-any-return]

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        self._maybe_fail("list")
        return self.fs.get_file_info(selector)  # type: ignore[no-any-return]

    def create_dir(self, path: str, recursive: bool) -> None:
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise NotImplementedError

    def delete_file(self, path: str) -> None:
        self.fs.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self._maybe_fail("move")
        self.fs.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self.fs.copy_file(src, dest)

    def open_input_stream(self, path: str) -> Any:
        return self.fs.open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        return self.fs.open_input_file(path)

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        self._maybe_fail("write")
        return self.fs.open_output_stream(path)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        raise NotImplementedError


@pytest.fixture
def flaky_lake(tmp_path: Path) -> tuple[Lake, _Handler]:
    handler = _Handler(pafs.LocalFileSystem(), {"list": 2, "move": 2, "write": 1, "info": 1})
    lake = Lake(tmp_path)
    lake.fs = pafs.PyFileSystem(handler)  # local paths, flaky calls
    return lake, handler


def test_replace_table_retries_listing_renames_and_writes(
    flaky_lake: tuple[Lake, _Handler], sleeps: list[float]
) -> None:
    lake, handler = flaky_lake
    lake.replace_table("t", [("p1", table()), ("p2", table())])
    lake.replace_table("t", [("p1", table())])
    assert lake.read_table("t").num_rows == 2
    assert handler.calls["move"] >= 3  # two failures, then the renames
    injected = sum(min(handler.calls[k], n) for k, n in handler.failures.items())
    assert injected == 6
    assert len(sleeps) == injected  # one backoff wait per injected fault


def test_a_permanent_storage_error_fails_at_once_with_one_clear_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sleeps: list[float],
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = flaky_function(
        monkeypatch,
        pq.ParquetWriter,
        "write_batch",
        99,
        OSError("google::cloud::Status(PERMISSION_DENIED: caller has no storage.objects.create)"),
    )
    lake = tmp_path / "lake"
    data = tmp_path / "d.csv"
    data.write_text("id,title,date,journal\n1,a,2020-01-01,J\n")
    args = ["import", "--source", str(data), "--source_type", "csv", "--dest_table", "pubmed"]
    assert main([*args, "--output_folder", str(lake)]) == 2
    assert calls() == 1
    assert sleeps == []
    err = capsys.readouterr().err
    part = f"{lake}/pubmed/{single_source_part(str(data))}.parquet"  # named after its key
    assert err.splitlines() == [
        f"error: {lake}: permission denied to write {part}: caller has no storage.objects.create"
    ]


def test_a_transient_error_that_never_ends_gives_up_with_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    calls = flaky_function(monkeypatch, pq, "read_table", 99, OSError(GCS_UNAVAILABLE))
    lake = Lake(tmp_path)
    lake.write_part("t", "p", table())
    with pytest.raises(LakeError) as raised:
        lake.read_table("t")
    assert calls() == 5
    assert len(sleeps) == 4
    assert str(raised.value) == (
        f"{tmp_path}: cannot read {tmp_path}/t/p.parquet: UNAVAILABLE: PerformWork() - "
        "CURL error [7]=Could not connect to server (gave up after 5 attempts)"
    )
