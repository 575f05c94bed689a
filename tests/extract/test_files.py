"""CSV and JSON readers on the defects of real exported files."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datapipeline import repairs
from datapipeline.errors import ConfigError, InputError
from datapipeline.extract import files, get_reader
from datapipeline.extract.encoding import decode_to_utf8, is_utf8
from datapipeline.extract.files import parse_json_records

FAST_FUZZ = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


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


@pytest.mark.parametrize(
    "ending",
    ["\n", "\r\n", "\r", "mixed"],
    ids=["LF", "CRLF", "CR (old Mac)", "mixed"],
)
def test_csv_lines_may_end_in_lf_crlf_cr_or_a_mix(tmp_path: Path, ending: str) -> None:
    lines = ["id,title", "1,First", '2,"Quoted, with comma"', "3,Third", "4,Fourth"]
    if ending == "mixed":
        text = "".join(
            line + end for line, end in zip(lines, ["\r", "\n", "\r\n", "\r", "\n"], strict=True)
        )
    else:
        text = ending.join(lines) + ending
    path = tmp_path / "p.csv"
    path.write_bytes(text.encode())
    rows = read("csv", path)
    assert [(r["id"], r["title"]) for r in rows] == [
        ("1", "First"),
        ("2", "Quoted, with comma"),
        ("3", "Third"),
        ("4", "Fourth"),
    ]
    assert [r["_source_row"] for r in rows] == [1, 2, 3, 4]


def test_csv_with_cr_line_ends_keeps_a_line_break_inside_quotes(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b'id,title\r1,"two\rlines"\r2,x\r')
    rows = read("csv", path)
    assert [r["id"] for r in rows] == ["1", "2"]
    assert rows[0]["title"] in ("two\rlines", "two\nlines")  # white space to the cleaning


def test_csv_duplicated_header_keeps_every_column_under_its_own_name(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("atccode,drug,drug\nA1,ETHANOL,ATROPINE\n", encoding="utf-8")
    table = pa.Table.from_batches(list(get_reader("csv")(str(path))))
    assert table.column_names == ["_source_row", "atccode", "drug", "drug", "_source_file"]
    assert [table.column(i).to_pylist() for i in (2, 3)] == [["ETHANOL"], ["ATROPINE"]]


def test_csv_header_with_a_name_that_looks_deduplicated(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,a_duplicated_0,a\n1,2,3\n", encoding="utf-8")
    table = pa.Table.from_batches(list(get_reader("csv")(str(path))))
    assert table.column_names[1:-1] == ["a", "a_duplicated_0", "a"]
    assert [table.column(i).to_pylist() for i in (1, 2, 3)] == [["1"], ["2"], ["3"]]


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


# --- fast paths: the same tables, repairs and errors as the Python parser ---------------------


def _table(path: Path) -> pa.Table:
    return pa.Table.from_batches(list(get_reader("json")(str(path))))


def _whole_table(path: Path, monkeypatch: pytest.MonkeyPatch) -> pa.Table:
    """The table read as before pieces: types inferred from every record of the whole array."""
    with monkeypatch.context() as patch:
        patch.setattr(files, "_PIECE_BYTES", 1 << 60)
        patch.setattr(files, "_SAMPLE_FROM_SIZE", 1 << 60)
        return _table(path)


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """One record per piece of the array, a sample of two records, whatever the file size."""
    monkeypatch.setattr(files, "_PIECE_BYTES", 1)
    monkeypatch.setattr(files, "_SAMPLE_RECORDS", 2)
    monkeypatch.setattr(files, "_SAMPLE_FROM_SIZE", 0)


def _array(*records: str) -> bytes:
    return ("[\n" + ",\n".join(records) + ",\n]\n").encode()


def _paths(data: bytes) -> tuple[bool, bool]:
    """Whether the array is read as strings, whether piece by piece (else: whole)."""
    pieces = files._array_pieces(data, data.rindex(b","))
    return (
        files._read_pieces_as_strings(data, pieces) is not None,
        files._read_pieces_inferred(pieces) is not None,
    )


@pytest.mark.parametrize(
    ("document", "paths"),
    [
        # every column holds a string in the sample: read as strings
        (_array('{"id": "1", "t": "a"}', '{"id": 2, "t": "b"}', '{"id": 3.5, "t": true}'), (1, 0)),
        # a column null in the sample, and in the rest; keys in another order
        (_array('{"id": "1", "n": null}', '{"n": null, "id": 2}', '{"id": "3"}'), (1, 1)),
        # a later record with more columns: Polars orders them as that record does
        (_array('{"a": "1"}', '{"a": "2"}', '{"b": "x", "a": "3"}', '{"a": "4"}'), (0, 0)),
        (_array('{"a": "1", "b": null}', '{"a": "2"}', '{"b": "x", "a": "3"}'), (0, 1)),
        # a key first seen after the sample
        (_array('{"id": "1"}', '{"id": "2"}', '{"id": "3", "late": "x"}'), (0, 0)),
        # a column null in the sample that holds a value later
        (_array('{"id": "1", "n": null}', '{"id": "2"}', '{"id": "3", "n": 4}'), (0, 1)),
        # integers only: the inference tells 2 from 2.0 (and the Python parser writes 2.0)
        (_array('{"id": 1}', '{"id": 2}', '{"id": 3}'), (0, 1)),
        (_array('{"id": 1}', '{"id": 2}', '{"id": 2.0}'), (0, 0)),
        # a piece of floats after the sample: a string column all the same, floats as text
        (_array('{"id": "1"}', '{"id": "2"}', '{"id": 1.5}', '{"id": "4"}'), (1, 0)),
        # a nested value: the Python parser writes it as JSON text
        (_array('{"id": "1"}', '{"id": "2"}', '{"id": {"b": 1}}'), (0, 0)),
        # a record over several lines: a piece cut inside a record is refused
        (b'[\n{"id": "1", "o": {"b": 1},\n "t": "x"},\n{"id": "2", "t": "y"}\n]', (0, 0)),
    ],
)
@pytest.mark.usefixtures("small_pieces")
def test_json_read_in_pieces_equals_the_whole_array_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: bytes, paths: tuple[int, int]
) -> None:
    path = tmp_path / "p.json"
    path.write_bytes(document)
    assert _paths(document) == tuple(map(bool, paths))
    assert _table(path).equals(_whole_table(path, monkeypatch))


scalars = (
    st.none()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=4)
    | st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.just({"n": 1})
)


@FAST_FUZZ
@given(
    st.lists(st.dictionaries(st.sampled_from("abcd"), scalars, min_size=1, max_size=4), max_size=8)
)
@pytest.mark.usefixtures("small_pieces")
def test_json_pieces_read_what_the_whole_array_reads(records: list[dict[str, object]]) -> None:
    """Read in pieces (as strings or with inferred types) or whole: the same frame."""
    data = ("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]").encode()
    whole = files._read_pieces_inferred([data])
    fast = files._read_json_fast(data, "f.json")
    assert (fast is None) == (whole is None)
    if fast is not None and whole is not None:
        assert fast.equals(whole)


@pytest.mark.usefixtures("small_pieces")
def test_json_pieces_hold_every_record_once() -> None:
    data = _array(*(f'{{"id": "{i}"}}' for i in range(50)))
    comma = data.rindex(b",")
    pieces = files._array_pieces(data, comma)
    assert len(pieces) > 1
    records = [r for piece in pieces for r in json.loads(piece)]
    assert records == [{"id": str(i)} for i in range(50)]
    assert files._array_pieces(data, comma, whole=True) == [data[:comma] + data[comma + 1 :]]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[\n {"id": "1"},,\n]\n', "line 2 column 14: invalid JSON"),  # one comma too many
        ('[\n {"id": "1"},\n {"id": }\n,\n]\n', "line 3 column 9: invalid JSON"),
    ],
)
def test_json_errors_name_the_place_in_the_file_as_it_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, where: str
) -> None:
    path = tmp_path / "p.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=rf"p\.json: {where}"):
        read("json", path)
    assert "trailing comma" not in caplog.text


def test_json_trailing_comma_in_cp1252_file_is_repaired(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_bytes('[{"id": 1, "journal": "Genève"},\n]'.encode("cp1252"))
    with repairs.collect() as found:
        rows = read("json", path)
    assert [(r["id"], r["journal"]) for r in rows] == [("1", "Genève")]
    assert sorted(r.repair for r in found) == [
        repairs.DECODED_AS + "cp1252",
        repairs.TRAILING_COMMA,
    ]


@FAST_FUZZ
@given(st.binary(max_size=40) | st.text(max_size=20).map(lambda t: t.encode("utf-8", "replace")))
def test_utf8_check_agrees_with_the_python_codec(data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        assert not is_utf8(data)
    else:
        assert is_utf8(data)


@pytest.mark.parametrize(
    "data",
    [b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\x80", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80"],
)
def test_utf8_check_refuses_surrogates_overlong_forms_and_out_of_range(data: bytes) -> None:
    assert not is_utf8(b"ok" + data)
    assert is_utf8("\U0010ffff\ud7ff\ue000".encode())
