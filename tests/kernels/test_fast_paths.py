"""The fast paths give exactly what the general rules give."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from datapipeline.extract import files
from datapipeline.kernels.bytetable import ascii_table, translate_ascii
from datapipeline.kernels.text import (
    blank_values,
    map_rare_values,
    may_need_squash,
    on_distinct_values,
)
from datapipeline.mentions.cleaning import (
    _NEEDS_SQUASH,
    blank_rows,
    clean_text_columns,
    decode_escaped_bytes,
    squash_whitespace,
    title_merge_keys,
)
from datapipeline.mentions.matching import (
    normalize_for_matching,
    title_words,
    words_and_merge_keys,
)
from datapipeline.mentions.nodes import shared_source_ids

_TEXT = st.text(
    alphabet=st.sampled_from(list("aZ09 -./\t\n\r\x00\u00a0\u00e9E\u0301\u00ad\u2014ß,(")),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT, min_size=1, max_size=20))
def test_title_words_are_the_full_normal_form(titles: list[str]) -> None:
    frame = pl.DataFrame({"title": titles}, schema={"title": pl.String})
    fast = title_words(frame.get_column("title")).to_list()
    full = frame.select(normalize_for_matching(pl.col("title"))).to_series().to_list()
    # the fast path leaves runs of spaces as they are: the words are what counts
    assert [" ".join(w for w in f.split(" ") if w) for f in fast] == full


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | _TEXT, min_size=1, max_size=20))
def test_the_cheap_white_space_test_finds_every_value_the_rule_changes(
    values: list[str | None],
) -> None:
    series = pl.Series("t", ["", " ", "a  b", "\t", "é ", *values], dtype=pl.String)
    cheap = may_need_squash(series).to_list()
    exact = series.str.contains(_NEEDS_SQUASH).fill_null(False).to_list()
    assert all(c or not e for c, e in zip(cheap, exact, strict=True))
    # and where it says no, the rule changes nothing
    squashed = series.to_frame().select(squash_whitespace(pl.col("t"))).to_series().to_list()
    for value, flagged, after in zip(series.to_list(), cheap, squashed, strict=True):
        if not flagged and value:
            assert after == value


def _merge_key(title: str) -> str:
    return "".join(c if not c.isascii() or c.isalnum() else " " for c in title.lower())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | _TEXT, min_size=1, max_size=20), st.integers(0, 3))
def test_merge_keys_are_the_lower_case_in_words(values: list[str | None], skip: int) -> None:
    # a slice: the Arrow array then starts at an offset into its buffers
    series = pl.Series("t", [None, "X-y", "É.", "\u212a", *values], dtype=pl.String).slice(skip)
    keys = title_merge_keys(series)
    assert keys.to_list() == [None if v is None else _merge_key(v) for v in series.to_list()]
    # a function of the lower case: titles equal but for case get one key
    assert keys.to_list() == title_merge_keys(series.str.to_lowercase()).to_list()
    words, merge_keys = words_and_merge_keys(series)
    assert merge_keys.to_list() == keys.to_list()
    assert words.to_list() == title_words(series).to_list()
    assert keys.name == words.name == "t"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | st.text(max_size=9), min_size=1, max_size=20), st.integers(0, 3))
def test_the_byte_table_maps_every_byte_as_bytes_translate(
    values: list[str | None], skip: int
) -> None:
    # two bytes are looked up at once: odd and even data lengths, and arrays at an offset
    table = ascii_table(lambda c: chr(127 - ord(c)))  # every ASCII byte moves
    series = pl.Series("t", [None, "ab", *values], dtype=pl.String).slice(skip)
    mapped, others = translate_ascii(series, table)
    expected = [
        None if v is None else v.encode().translate(table).decode() for v in series.to_list()
    ]
    assert mapped.to_list() == expected
    assert others.to_list() == [
        i for i, v in enumerate(series.to_list()) if v is not None and not v.isascii()
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | _TEXT, min_size=1, max_size=20))
def test_text_cleaning_equals_squashing_every_row(values: list[str | None]) -> None:
    frame = pl.DataFrame({"a": values, "b": values}, schema={"a": pl.String, "b": pl.String})
    cleaned = clean_text_columns(frame, ["a", "b"], few_distinct=("b",))
    expected = frame.select(squash_whitespace(pl.col("a"))).to_series().to_list()
    assert cleaned.get_column("a").to_list() == expected
    assert cleaned.get_column("b").to_list() == expected


def _read(path: Path) -> pa.Table:
    return pa.Table.from_batches(list(files.read_json(str(path))))


def test_json_fast_path_equals_python_parser(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "pubmed.json"
    path.write_text(
        '[\n {"id": 1, "title": "A\\u00e9", "date": "01/01/2020", "journal": "J"},\n'
        ' {"id": "2", "title": null, "date": "2020-01-02", "journal": "K", "extra": 12345678901},'
        '\n {"id": "", "title": "B", "date": "1 May 2020"},\n]\n',
        encoding="utf-8",
    )
    assert files._read_json_fast(path.read_bytes(), str(path)) is not None
    fast = _read(path)
    monkeypatch.setattr(files, "_read_json_fast", lambda data, source: None)
    assert fast.equals(_read(path))


def test_json_with_floats_or_booleans_takes_the_python_path(tmp_path: Path) -> None:
    path = tmp_path / "pubmed.json"
    path.write_text('[{"id": 1.0, "title": "x"}, {"id": 2.5, "title": true}]', encoding="utf-8")
    assert files._read_json_fast(path.read_bytes(), str(path)) is None
    assert _read(path).column("id").to_pylist() == ["1", "2.5"]


_SPACES = st.text(alphabet=st.sampled_from(list(" \t\n\r\x0b\x0c\x1c\x85\u00a0\u2003\u3000")))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | _TEXT | _SPACES, min_size=1, max_size=20))
def test_the_blank_test_is_the_anchored_regex(values: list[str | None]) -> None:
    series = pl.Series("t", ["", " ", "!", "~", "\x7f", "\x7f ", *values], dtype=pl.String)
    expected = series.is_null() | series.str.contains(r"^\s*$")
    assert blank_values(series).to_list() == expected.to_list()
    frame = pl.DataFrame({"a": series, "b": series.shift(1), "c": series.reverse()})
    every = frame.select(
        pl.all_horizontal(pl.col(c).is_null() | pl.col(c).str.contains(r"^\s*$") for c in "abc")
    ).to_series()
    assert blank_rows(frame, ["a", "b", "c"]).to_list() == every.to_list()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | _TEXT | st.sampled_from([r"a\xc3\xb1", r"\x", r"\xc3\x28 b"])))
def test_values_are_rewritten_only_where_the_rule_changes_them(values: list[str | None]) -> None:
    frame = pl.DataFrame(
        {"t": values, "n": range(len(values))}, schema={"t": pl.String, "n": pl.Int64}
    )
    every_row = [None if v is None else decode_escaped_bytes(v) for v in values]
    needs = pl.col("t").str.contains("\\x", literal=True)
    assert map_rare_values(frame, "t", needs, decode_escaped_bytes)["t"].to_list() == every_row
    squashed = frame.select(squash_whitespace(pl.col("t"))).to_series().to_list()
    distinct = on_distinct_values(frame, "t", squash_whitespace, "t")
    assert distinct["t"].to_list() == squashed
    assert distinct["n"].to_list() == list(range(len(values)))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["pubmed", "clinical_trials"]), st.none() | st.sampled_from("abc")
        )
    )
)
def test_shared_ids_are_ids_repeated_within_a_kind(rows: list[tuple[str, str | None]]) -> None:
    pubs = pl.DataFrame(rows, schema={"kind": pl.String, "source_id": pl.String}, orient="row")
    expected = [
        source_id is None or sum(r == (kind, source_id) for r in rows) > 1
        for kind, source_id in rows
    ]
    assert shared_source_ids(pubs).to_list() == expected
