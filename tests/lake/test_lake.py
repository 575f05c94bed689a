"""The local lake: parts, whole-table replacement, name validation."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
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


@pytest.mark.parametrize("text", [pa.string(), pa.large_string(), pa.string_view()])
def test_text_of_any_arrow_layout_is_read_back_as_strings(
    tmp_path: Path, text: pa.DataType
) -> None:
    # Readers hand over string views (canonical.TEXT), other code plain strings: the lake's
    # files hold UTF-8 text whatever the layout written, and parts written either way combine.
    lake = Lake(tmp_path)
    lake.write_part("t", "a", pa.table({"v": pa.array(["é", None], text)}))
    lake.write_part("t", "b", table("z"))
    read = lake.read_table("t")
    assert read.schema == pa.schema([("v", pa.string())])
    assert read["v"].to_pylist() == ["é", None, "z"]


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


class _RacingFileSystem:
    """A file system whose first listings fail the way Arrow's does when a folder is
    created between its listing and its existence check (a part written meanwhile)."""

    def __init__(self, fs: object, failures: int) -> None:
        self._fs = fs
        self.failures = failures

    def get_file_info(self, what: object) -> object:
        if isinstance(what, pafs.FileSelector) and self.failures:
            self.failures -= 1
            raise FileNotFoundError(2, f"Cannot list directory '{what.base_dir}'")
        return self._fs.get_file_info(what)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._fs, name)


def test_listing_survives_a_folder_created_while_it_lists(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    lake.write_part("pubmed", "a", pa.table({"x": [1]}))
    racing = _RacingFileSystem(lake.fs, failures=2)
    lake.fs = racing  # type: ignore[assignment]
    assert [Path(p).name for p in lake.part_files("pubmed")] == ["a.parquet"]
    racing.failures = 2
    assert lake.table_names() == ["pubmed"]
    assert racing.failures == 0
