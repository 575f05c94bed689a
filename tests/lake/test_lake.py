"""The local lake: parts, whole-table replacement, name validation."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from datapipeline.errors import LakeError
from datapipeline.lake import Lake


def table(*values: str) -> pa.Table:
    return pa.table({"v": pa.array(values, pa.string())})


def test_parts_are_read_back_in_name_order(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_part("t", "b", table("2"))
    lake.write_part("t", "a", table("1"))
    assert lake.read_table("t")["v"].to_pylist() == ["1", "2"]


def test_rewriting_a_part_replaces_it_without_duplicating_rows(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write_part("t", "a", table("1", "2"))
    lake.write_part("t", "a", table("3"))
    assert lake.read_table("t")["v"].to_pylist() == ["3"]
    assert [Path(p).name for p in lake.part_files("t")] == ["a.parquet"]


def test_replace_table_drops_parts_of_earlier_runs(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.replace_table("t", [("old", table("x"))])
    lake.replace_table("t", [("new", table("y"))])
    assert lake.read_table("t")["v"].to_pylist() == ["y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]  # no staging folders left


def test_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LakeError, match="table 'nope' not found"):
        Lake(tmp_path).read_table("nope")


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", "..", "", "a\\b"])
def test_unsafe_table_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(LakeError, match="invalid table name"):
        Lake(tmp_path).write_part(name, "p", table("1"))


def test_unknown_url_scheme_is_refused() -> None:
    with pytest.raises(LakeError, match="unsupported lake URL"):
        Lake("s3://bucket/x")
