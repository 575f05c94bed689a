"""The vectorised rules give what the plain statement of each rule gives, value by value."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from datapipeline.mentions import rules
from datapipeline.mentions.cleaning import (
    blank_rows,
    clean_text_columns,
    merge_publications,
    title_merge_keys,
)
from datapipeline.mentions.matching import drug_patterns, find_mentions, normalize_for_matching
from datapipeline.mentions.nodes import journal_display_names, publication_node_ids
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

#: Characters each rule cares about: case, accents (composed and combining), white space and
#: control characters, punctuation, format characters, escaped bytes.
_CHARS = list("aAbBzZ09 -/.,(\t\n\r\x00\x1f\u00a0\u2028\u00e9\u00c9E\u0301\u00ad\u2014\u00df\\x")
_TEXT = st.lists(st.sampled_from([*_CHARS, "\\xc3\\xa9", "\\xc3\\x28"]), max_size=24).map("".join)
_OPTIONAL = st.none() | _TEXT
_FEW = {"max_examples": 200, "deadline": None}


@settings(**_FEW)
@given(st.lists(_TEXT, min_size=1, max_size=20))
def test_normal_form(values: list[str]) -> None:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    got = frame.select(normalize_for_matching(pl.col("v"))).to_series().to_list()
    assert got == [rules.normal_form(v) for v in values]


_WORDS = st.text(alphabet="abeé -/–,.()\t", max_size=30)


@settings(**_FEW)
@given(st.lists(_WORDS, max_size=8), st.lists(st.text(alphabet="abeé -", max_size=6), max_size=6))
def test_mentions(titles: list[str], names: list[str]) -> None:
    names = list({rules.normal_form(n): n for n in names}.values())  # one name per pattern
    drugs, _ = drug_patterns(
        pl.DataFrame(
            {"drug_id": names, "name": names}, schema={"drug_id": pl.String, "name": pl.String}
        )
    )
    titles_frame = pl.DataFrame(
        {"pub_id": range(len(titles)), "title": titles},
        schema={"pub_id": pl.Int64, "title": pl.String},
    )
    found = set(find_mentions(titles_frame, drugs).rows())
    expected = {(i, n) for i, t in enumerate(titles) for n in names if rules.mentions(t, n)}
    assert found == expected


@settings(**_FEW)
@given(st.lists(_OPTIONAL, min_size=1, max_size=20))
def test_clean_text(values: list[str | None]) -> None:
    frame = pl.DataFrame({"v": values}, schema={"v": pl.String})
    for distinct in ((), ("v",)):  # cleaned row by row, or once per distinct value
        got = clean_text_columns(frame, ["v"], few_distinct=distinct).get_column("v").to_list()
        assert got == [rules.clean_text(v) for v in values]


@settings(**_FEW)
@given(st.lists(st.tuples(_OPTIONAL, _OPTIONAL), min_size=1, max_size=20))
def test_blank(rows: list[tuple[str | None, str | None]]) -> None:
    frame = pl.DataFrame(rows, schema={"a": pl.String, "b": pl.String}, orient="row")
    got = blank_rows(frame, ["a", "b"]).to_list()
    assert got == [rules.is_blank(a) and rules.is_blank(b) for a, b in rows]


@settings(**_FEW)
@given(
    st.lists(
        st.sampled_from(["Aspirin", "ASPIRIN", "aspirin!", "Ébola", "éBOLA", "x"]),
        min_size=2,
        max_size=12,
    )
)
def test_merge_key(titles: list[str]) -> None:
    """Rows merge exactly when their merge keys are equal (no ids: nothing keeps them apart)."""
    date = dt.date(2020, 1, 1)
    rows = pl.DataFrame(
        {
            "kind": "pubmed",
            "date": date,
            "source_id": None,
            "title": titles,
            "journal": None,
            "date_text": "2020-01-01",
            SOURCE_FILE: "f",
            SOURCE_ROW: range(1, len(titles) + 1),
        },
        schema_overrides={"source_id": pl.String, "journal": pl.String},
    )
    merged = merge_publications(rows)
    groups = {rules.merge_key("pubmed", t, date) for t in titles}
    assert merged.height == len(groups)
    assert sorted(merged.get_column("rows").to_list()) == sorted(
        sum(rules.merge_key("pubmed", t, date) == g for t in titles) for g in groups
    )
    # the fast candidate key is a function of the lower case: equal keys for equal groups
    keys = title_merge_keys(pl.Series(titles)).to_list()
    for t, k in zip(titles, keys, strict=True):
        for u, m in zip(titles, keys, strict=True):
            assert t.lower() != u.lower() or k == m


@settings(**_FEW)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["pubmed", "clinical_trials"]),
            st.none() | st.sampled_from(["1", "2", "NCT9"]),
            st.sampled_from(["Aspirin", "ASPIRIN", "Ébola"]),
            st.sampled_from([dt.date(2020, 1, 1), dt.date(2021, 2, 3)]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_node_id(records: list[tuple[str, str | None, str, dt.date]]) -> None:
    frame = pl.DataFrame(
        records,
        schema={"kind": pl.String, "source_id": pl.String, "title": pl.String, "date": pl.Date},
        orient="row",
    )
    got = publication_node_ids(frame).get_column("id").to_list()
    ids = [(k, s) for k, s, _, _ in records]
    expected = [
        rules.node_id(k, s, t, d, shared=s is not None and ids.count((k, s)) > 1)
        for k, s, t, d in records
    ]
    assert got == expected


@settings(**_FEW)
@given(
    st.dictionaries(
        st.sampled_from(["Lancet", "LANCET", "lancet", "BMJ", "bmj", "Ça"]),
        st.integers(1, 4),
        min_size=1,
    )
)
def test_journal_name(counts: dict[str, int]) -> None:
    frame = pl.DataFrame({"journal": list(counts), "len": list(counts.values())})
    got = dict(journal_display_names(frame).iter_rows())
    assert got == {s: rules.journal_name(s, counts) for s in counts}
