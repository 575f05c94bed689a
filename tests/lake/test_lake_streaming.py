"""Streaming part writes and state files of the lake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from datapipeline.errors import LakeError
from datapipeline.lake import Lake

SCHEMA = pa.schema([("a", pa.string()), ("n", pa.int64())])


def _batches(count: int, fail_after: int | None = None) -> Iterator[pa.RecordBatch]:
    for i in range(count):
        if fail_after is not None and i == fail_after:
            raise RuntimeError("source broke")
        yield pa.RecordBatch.from_pydict({"a": [f"x{i}"] * 3, "n": [i] * 3}, schema=SCHEMA)


def test_write_part_batches_streams_every_batch(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    path = lake.write_part_batches("t", "p1", _batches(4), SCHEMA)
    assert path.endswith("/t/p1.parquet")
    table = lake.read_table("t")
    assert table.num_rows == 12
    assert table.schema == SCHEMA


def test_a_failing_stream_leaves_the_old_part_and_no_temporary_file(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_part_batches("t", "p1", _batches(2), SCHEMA)
    with pytest.raises(RuntimeError, match="source broke"):
        lake.write_part_batches("t", "p1", _batches(5, fail_after=3), SCHEMA)
    assert lake.read_table("t").num_rows == 6
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["p1.parquet"]


def test_an_empty_stream_writes_an_empty_part_with_the_schema(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_part_batches("t", "p1", iter(()), SCHEMA)
    table = lake.read_table("t")
    assert table.num_rows == 0
    assert table.schema == SCHEMA


def test_state_files_round_trip_and_stay_out_of_tables(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    assert lake.read_state("src") is None
    path = lake.write_state("src", {"watermark": {"type": "int", "value": "5"}, "parts": ["src"]})
    assert path.endswith("/_state/src.json")
    assert lake.read_state("src") == {"watermark": {"type": "int", "value": "5"}, "parts": ["src"]}
    assert [p.name for p in (tmp_path / "_state").iterdir()] == ["src.json"]
    lake.delete_state("src")
    assert lake.read_state("src") is None


def test_corrupt_state_and_bad_names_are_lake_errors(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    (tmp_path / "_state").mkdir()
    (tmp_path / "_state" / "src.json").write_text("{not json")
    with pytest.raises(LakeError, match="not valid JSON"):
        lake.read_state("src")
    with pytest.raises(LakeError, match="invalid state name"):
        lake.write_state("../escape", {})


def test_delete_part(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_part_batches("t", "p1", _batches(1), SCHEMA)
    lake.write_part_batches("t", "p2", _batches(1), SCHEMA)
    lake.delete_part("t", "p1")
    lake.delete_part("t", "absent")
    assert [Path(p).name for p in lake.part_files("t")] == ["p2.parquet"]
