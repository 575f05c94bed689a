"""CSV and JSON readers on the defects of real exported files."""

from __future__ import annotations

import codecs
from pathlib import Path

import pyarrow as pa
import pytest

from datapipeline.errors import ConfigError, InputError
from datapipeline.extract import get_reader
from datapipeline.extract.encoding import decode_to_utf8
from datapipeline.extract.files import parse_json_records


def read(source_type: str, path: Path) -> list[dict[str, object]]:
    batches = list(get_reader(source_type)(str(path)))
    return pa.Table.from_batches(batches).to_pylist() if batches else []


def test_csv_columns_are_strings_with_provenance(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text('id,title\n1,"A, quoted title"\n2,Plain\n', encoding="utf-8")
    rows = read("csv", path)
    assert rows == [
        {"id": "1", "title": "A, quoted title", "_source_row": 1, "_source_file": str(path)},
        {"id": "2", "title": "Plain", "_source_row": 2, "_source_file": str(path)},
    ]


def test_csv_tab_only_line_is_read_as_a_row_for_the_cleaning_stage(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,title\n1,T\n\t\n", encoding="utf-8")
    rows = read("csv", path)
    assert [r["id"] for r in rows] == ["1", "\t"]


def test_csv_with_utf8_bom_keeps_first_column_name(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(codecs.BOM_UTF8 + "atccode,drug\nA1,ÉTHER\n".encode())
    assert read("csv", path)[0]["atccode"] == "A1"
    assert read("csv", path)[0]["drug"] == "ÉTHER"


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_csv_in_western_encodings_is_decoded_with_a_warning(
    tmp_path: Path, encoding: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes("id,journal\n1,Hôpitaux de Genève\n".encode(encoding))
    assert read("csv", path)[0]["journal"] == "Hôpitaux de Genève"
    assert "not valid UTF-8" in caplog.text


def test_cp1252_only_characters_are_decoded(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes("id,title\n1,QUZYTTIR™ – “quoted”\n".encode("cp1252"))
    assert read("csv", path)[0]["title"] == "QUZYTTIR™ – “quoted”"


def test_utf16_with_bom_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes("id,title\n1,Bétaméthasone\n".encode("utf-16"))
    assert read("csv", path)[0]["title"] == "Bétaméthasone"


def test_decoding_reports_the_encoding_used() -> None:
    assert decode_to_utf8(b"plain", "x").encoding == "utf-8"
    assert decode_to_utf8("é".encode("cp1252"), "x").repaired


def test_empty_csv_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match=r"empty\.csv: empty file"):
        read("csv", path)


def test_header_only_csv_has_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("id,title,date,journal\n", encoding="utf-8")
    assert read("csv", path) == []


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nope\.csv: file not found"):
        read("csv", tmp_path / "nope.csv")


def test_json_trailing_comma_is_repaired_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "p.json"
    path.write_text('[\n {"id": 1, "title": "a"},\n {"id": "2", "title": "b"},\n]\n')
    rows = read("json", path)
    assert [(r["id"], r["title"]) for r in rows] == [("1", "a"), ("2", "b")]
    assert "trailing comma" in caplog.text


def test_json_ids_are_strings_whatever_their_json_type(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('[{"id": 9}, {"id": "10"}, {"id": 11.0}, {"id": null}, {"other": 1}]')
    assert [r["id"] for r in read("json", path)] == ["9", "10", "11", None, None]


def test_json_lines_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"id": 1}\n{"id": 2}\n')
    assert [r["id"] for r in read("json", path)] == ["1", "2"]


def test_invalid_json_names_file_line_and_column() -> None:
    with pytest.raises(InputError, match=r"f\.json: line 3 column 9: invalid JSON"):
        parse_json_records('[\n {"id": 1},\n {"id": }\n]', "f.json")


def test_truncated_json_is_a_clear_error() -> None:
    with pytest.raises(InputError, match=r"f\.json: line 1 column \d+"):
        parse_json_records('[{"id": 1}, {"id"', "f.json")


def test_json_record_that_is_not_an_object_is_named() -> None:
    with pytest.raises(InputError, match=r"record 2: expected a JSON object"):
        parse_json_records('[{"id": 1}, 5]', "f.json")


def test_unknown_source_type_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown source type 'xls'.*csv.*json"):
        get_reader("xls")
