"""Cleaning rules: text, dates, rejections and merging of duplicates."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from datapipeline.mentions.cleaning import (
    clean_publications,
    clean_text_columns,
    decode_escaped_bytes,
    merge_publications,
    parse_date,
)


def raw_publications(*rows: tuple[str | None, str | None, str | None, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source_id": [r[0] for r in rows],
            "title": [r[1] for r in rows],
            "date": [r[2] for r in rows],
            "journal": [r[3] for r in rows],
            "_source_file": ["f.csv"] * len(rows),
            "_source_row": list(range(1, len(rows) + 1)),
        },
        schema={
            "source_id": pl.String,
            "title": pl.String,
            "date": pl.String,
            "journal": pl.String,
            "_source_file": pl.String,
            "_source_row": pl.Int64,
        },
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"Laminoplasty or \xc3\xb1 Laminectomy", "Laminoplasty or ñ Laminectomy"),
        (r"Journal of emergency nursing\xc3\x28", "Journal of emergency nursing"),
        (r"caf\xc3\xa9 \xe2\x80\x93 tea", "café – tea"),
        ("Hôpitaux Universitaires de Genève", "Hôpitaux Universitaires de Genève"),
        (r"no escapes \x", r"no escapes \x"),
    ],
)
def test_escaped_bytes(text: str, expected: str) -> None:
    assert decode_escaped_bytes(text) == expected


def test_text_is_trimmed_and_white_space_squashed_and_empty_is_null() -> None:
    frame = pl.DataFrame({"t": ["  a \t b\n\nc  ", "   ", "\u00a0x\u00a0", None, r"x\xc3\x28 "]})
    assert clean_text_columns(frame, ["t"])["t"].to_list() == ["a b c", None, "x", None, "x"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25/05/2020", dt.date(2020, 5, 25)),
        ("01/02/2020", dt.date(2020, 2, 1)),  # day first
        ("2020-01-01", dt.date(2020, 1, 1)),
        ("1 January 2020", dt.date(2020, 1, 1)),
        ("27 April 2020", dt.date(2020, 4, 27)),
        (" 27  april 2020 ", dt.date(2020, 4, 27)),
        ("3 Feb 2021", dt.date(2021, 2, 3)),
        ("January 5, 2021", dt.date(2021, 1, 5)),
        ("31/02/2020", None),  # impossible
        ("2020-13-01", None),
        ("01/01/19", None),  # two-digit year: ambiguous, not year 19
        ("0000-01-01", None),  # there is no year 0
        ("01/01/0000", None),
        ("1 May 0000", None),
        ("0001-01-01", dt.date(1, 1, 1)),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(text: str | None, expected: dt.date | None) -> None:
    frame = pl.DataFrame({"d": [text]}, schema={"d": pl.String})
    assert frame.select(parse_date(pl.col("d")))["d"][0] == expected


def test_rows_without_title_or_date_or_content_are_rejected_with_their_reason() -> None:
    raw = raw_publications(
        ("1", "Good", "01/01/2020", "J"),
        ("2", "  ", "01/01/2020", "J"),
        ("3", "Bad date", "31/02/2020", "J"),
        ("\t", None, None, None),
        (None, "No id", "2020-01-01", None),
        ("6", "No date", None, "J"),
        ("7", "Empty date", "", "J"),
        ("8", "Blank date", " \t ", "J"),
        ("9", "Unreadable date", "soon", "J"),
        ("10", "  ", None, "J"),
    )
    kept, rejected = clean_publications(raw, "pubmed")
    assert kept["source_id"].to_list() == ["1", None]
    assert dict(zip(rejected["_source_row"], rejected["_reason"], strict=True)) == {
        2: "missing_title",
        3: "invalid_date",
        4: "blank_row",
        6: "missing_date",  # absent: missing
        7: "missing_date",
        8: "missing_date",
        9: "invalid_date",  # present but unreadable: invalid
        10: "missing_title",  # the title is checked first
    }


def test_same_trial_listed_twice_is_merged_with_fields_coalesced() -> None:
    title = "Glucagon Infusion in T1D Patients"
    raw = raw_publications(
        ("NCT03490942", title, "25/05/2020", ""),
        ("", title.upper(), "25/05/2020", "Journal of emergency nursing"),
    )
    kept, _ = clean_publications(raw, "clinical_trials")
    merged = merge_publications(kept)
    assert merged.select("source_id", "title", "journal", "rows").rows() == [
        ("NCT03490942", title, "Journal of emergency nursing", 2)
    ]


def test_records_with_different_ids_are_not_merged() -> None:
    raw = raw_publications(("A", "Same", "2020-01-01", "J"), ("B", "Same", "2020-01-01", "J"))
    kept, _ = clean_publications(raw, "pubmed")
    assert sorted(merge_publications(kept)["source_id"].to_list()) == ["A", "B"]


def test_same_title_on_another_date_is_another_publication() -> None:
    raw = raw_publications(("A", "Same", "2020-01-01", "J"), (None, "Same", "2020-01-02", "J"))
    kept, _ = clean_publications(raw, "pubmed")
    assert merge_publications(kept).height == 2


def test_exact_duplicate_rows_fold_into_one() -> None:
    row = ("7", "T", "2020-01-01", "J")
    kept, _ = clean_publications(raw_publications(row, row, row), "pubmed")
    assert merge_publications(kept)["rows"].to_list() == [3]


def test_merged_columns_are_the_same_with_or_without_duplicates() -> None:
    unique, _ = clean_publications(raw_publications(("1", "A", "2020-01-01", "J")), "pubmed")
    repeated, _ = clean_publications(
        raw_publications(("1", "A", "2020-01-01", "J"), ("1", "a", "2020-01-01", "J")), "pubmed"
    )
    assert merge_publications(unique).schema == merge_publications(repeated).schema
    assert merge_publications(repeated)["rows"].to_list() == [2]
