"""Cleaning rules, written once and applied by every engine (local, Airflow, Beam, ``Graph``).

Every function here takes and returns Polars frames or expressions: rules are vectorised over
whole columns. The few values that need Python (literal escaped bytes, content hashes) are rare;
they are computed once per distinct value, and only the rows whose value changes are rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from datapipeline.kernels.bytetable import ascii_table, translate_ascii
from datapipeline.kernels.text import (
    blank_values,
    map_rare_values,
    may_need_squash,
    on_distinct_values,
    on_some_rows,
)
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

#: A run of literal escaped bytes as some exports write them: ``\xc3\xb1``.
ESCAPED_BYTES = r"(?:\\x[0-9A-Fa-f]{2})+"
_ESCAPED_BYTES_RE = re.compile(ESCAPED_BYTES)

#: Rejection reasons, stable identifiers used in the run report and the rejected rows file.
BLANK_ROW = "blank_row"
MISSING_TITLE = "missing_title"
#: No date at all (absent, empty or white space): nothing to read.
MISSING_DATE = "missing_date"
#: A date that is there but unreadable or impossible (``31/02/2020``, month 13, year 0).
INVALID_DATE = "invalid_date"
MISSING_NAME = "missing_name"
NAME_WITHOUT_LETTERS = "name_without_letters_or_digits"

#: Date formats accepted, each guarded by a regex so a format only sees strings of its shape
#: (a two-digit year must not parse as year 19).
DATE_FORMATS: tuple[tuple[str, str], ...] = (
    (r"^\d{1,2}/\d{1,2}/\d{4}$", "%d/%m/%Y"),  # day first: 25/05/2020 is in the data
    (r"^\d{4}-\d{1,2}-\d{1,2}$", "%Y-%m-%d"),
    (r"^\d{1,2} [A-Za-z]+\.? \d{4}$", "%d %B %Y"),  # 1 January 2020, 27 Apr 2020
    (r"^[A-Za-z]+\.? \d{1,2},? \d{4}$", "%B %d %Y"),  # January 1, 2020
)


def decode_escaped_bytes(text: str) -> str:
    """Decode literal ``\\xHH`` runs that form valid UTF-8; drop the runs that do not.

    ``"Laminoplasty or \\xc3\\xb1 Laminectomy"`` becomes ``"Laminoplasty or ñ Laminectomy"``;
    ``"nursing\\xc3\\x28"`` becomes ``"nursing"``, since ``c3 28`` is not UTF-8 and guessing
    the intended character would invent data.
    """

    def replace(match: re.Match[str]) -> str:
        raw = bytes.fromhex(match.group(0).replace("\\x", ""))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return ""

    return _ESCAPED_BYTES_RE.sub(replace, text)


#: ASCII text in words: letters lower-cased, digits kept, every other character a space.
ASCII_WORDS = ascii_table(lambda c: c.lower() if c.isalnum() else " ")
_ASCII_BOUNDARIES = [chr(c) for c in range(128) if not chr(c).isalnum()]


def merge_keys_of(values: pl.Series, mapped: pl.Series, others: pl.Series) -> pl.Series:
    """:func:`title_merge_keys` from what :func:`translate_ascii` gave with ``ASCII_WORDS``."""
    if others.is_empty():
        return mapped
    lowered = pl.select(
        pl.lit(values.gather(others))
        .str.to_lowercase()
        .str.replace_many(_ASCII_BOUNDARIES, [" "] * len(_ASCII_BOUNDARIES))
    ).to_series()
    return mapped.clone().scatter(others, lowered)


def title_merge_keys(titles: pl.Series) -> pl.Series:
    """A key per title that is equal for titles equal but for case: the lower-case title with
    every ASCII character that is not a letter or digit a space.

    Two titles with the same lower case have the same key (it is a function of the lower
    case); the converse does not hold (``"a-b"``, ``"a b"``), so the key finds candidates
    for merging, whose lower case is then compared. On ASCII titles it is one byte table.
    """
    mapped, others = translate_ascii(titles, ASCII_WORDS)
    return merge_keys_of(titles, mapped, others)


def squash_whitespace(expr: pl.Expr) -> pl.Expr:
    """Trim, and turn each run of white space or control characters into one space; '' → null."""
    cleaned = expr.str.replace_all(r"[\s\p{Cc}]+", " ").str.strip_chars(" ")
    return pl.when(cleaned.str.len_bytes() > 0).then(cleaned).otherwise(None)


#: A value that :func:`squash_whitespace` changes beyond '' → null: white space at either end,
#: two white-space or control characters in a row, or one that is not a plain space.
_NEEDS_SQUASH = r"^[\s\p{Cc}]|[\s\p{Cc}]$|[\s\p{Cc}]{2}|[^\S ]|\p{Cc}"


def clean_text_columns(
    frame: pl.DataFrame, columns: list[str], few_distinct: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Apply the text rules to ``columns``: escaped bytes, then white space.

    White space is rewritten only in the values that need it (single spaces between words are
    the common case); columns in ``few_distinct`` are cleaned once per distinct value.
    """
    for column in columns:
        # every value with an escaped byte has a literal "\\x": a cheaper search than the regex
        frame = map_rare_values(
            frame, column, pl.col(column).str.contains("\\x", literal=True), decode_escaped_bytes
        )
        if column in few_distinct:
            frame = on_distinct_values(frame, column, squash_whitespace, column)
            continue
        frame = on_some_rows(
            frame, column, may_need_squash(frame.get_column(column)), squash_whitespace
        )
        value = pl.col(column)
        frame = frame.with_columns(
            pl.when(value.str.len_bytes() > 0).then(value).otherwise(None).alias(column)
        )
    return frame


def parse_date(expr: pl.Expr) -> pl.Expr:
    """Parse the accepted date formats into a ``Date``; null when unreadable or impossible.

    Year 0 does not exist (the calendar goes from 1 BC to AD 1); Polars would read
    ``0000-01-01`` as a date that no Python ``date`` can hold, so it is refused here.
    """
    text = expr.str.strip_chars().str.replace_all(r"\s+", " ").str.replace(",", "")
    candidates = [
        pl.when(text.str.contains(shape)).then(
            text.str.replace(r"\.", "").str.strptime(pl.Date, fmt, strict=False)
        )
        for shape, fmt in DATE_FORMATS
    ]
    parsed = pl.coalesce(candidates)
    return pl.when(parsed.dt.year() >= 1).then(parsed)


def blank_rows(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """Whether each row is blank in every one of ``columns``
    (:func:`~datapipeline.kernels.text.blank_values`); each column after the first is tested
    only on the rows still blank."""
    rows: pl.Series | None = None
    for column in columns:
        values = frame.get_column(column)
        blank = blank_values(values if rows is None else values.gather(rows))
        rows = blank.arg_true() if rows is None else rows.filter(blank)
        if rows.is_empty():
            break
    blank_all = pl.zeros(frame.height, dtype=pl.Boolean, eager=True)
    return blank_all if rows is None else blank_all.scatter(rows, True)


def _reject(frame: pl.DataFrame, reason: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    marked = frame.with_columns(reason.alias("_reason")).drop("_blank", "_no_date", strict=False)
    kept = marked.filter(pl.col("_reason").is_null()).drop("_reason")
    rejected = marked.filter(pl.col("_reason").is_not_null())
    return kept, rejected


def clean_publications(raw: pl.DataFrame, kind: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Clean one kind's raw publication rows; return (kept, rejected).

    ``raw`` has the canonical string columns (source_id, title, date, journal) and provenance.
    Kept rows gain ``kind``, a parsed ``date`` (``Date``) and keep the raw date in
    ``date_text``; rejected rows carry a ``_reason``.
    """
    text_columns = ["source_id", "title", "journal"]
    blank = blank_rows(raw, ["title", "source_id", "date", "journal"])
    frame = raw.with_columns(
        pl.col("date").alias("date_text"), pl.lit(kind).alias("kind"), blank.alias("_blank")
    )
    frame = clean_text_columns(frame, text_columns, few_distinct=("journal",))
    # A few thousand distinct dates in a million rows: parse each once.
    frame = on_distinct_values(frame, "date_text", parse_date, "date")
    # Of the dates not read, those with nothing in them are missing, the others invalid.
    unread = frame.get_column("date").is_null().arg_true()
    no_date = pl.zeros(frame.height, dtype=pl.Boolean, eager=True)
    if not unread.is_empty():
        no_date = no_date.scatter(
            unread, blank_values(frame.get_column("date_text").gather(unread))
        )
    frame = frame.with_columns(no_date.alias("_no_date"))
    reason = (
        pl.when(pl.col("_blank"))
        .then(pl.lit(BLANK_ROW))
        .when(pl.col("title").is_null())
        .then(pl.lit(MISSING_TITLE))
        .when(pl.col("_no_date"))
        .then(pl.lit(MISSING_DATE))
        .when(pl.col("date").is_null())
        .then(pl.lit(INVALID_DATE))
        .otherwise(None)
    )
    return _reject(frame, reason)


#: A number given to each kept publication row by the caller; merging keeps the first row's.
PUB_KEY = "_pub"
#: The columns of :func:`merge_publications`' result, in order (then PUB_KEY when given).
MERGED_COLUMNS = [
    "kind",
    "date",
    "source_id",
    "title",
    "journal",
    "date_text",
    SOURCE_FILE,
    SOURCE_ROW,
    "rows",
]


def merge_publications(
    pubs: pl.DataFrame, title_keys: pl.Series | None = None, first_of: Sequence[str] = ()
) -> pl.DataFrame:
    """Fold publications listed more than once (same kind, title and date) into one record.

    Fields are coalesced in input order (first non-null wins); the title, date text,
    provenance, :data:`PUB_KEY` (when present) and the columns ``first_of`` are the first
    row's. A row without an id joins
    the group of the one id its title and date carry; rows with different ids stay apart, since
    two registrations with one title are two records. Titles are the same when their lower
    case is. Adds ``rows`` (how many rows were folded).

    Nearly every row is unique. A cheap test first keeps the candidates: rows whose title's
    :func:`title_merge_keys` (``title_keys``, when the caller has them) hashes like another
    row's (a superset of the rows whose key repeats: same title, other dates or kinds, titles
    differing by punctuation, and hash collisions, are let through). Only the candidates get
    the exact key; the others pass through with ``rows`` = 1.
    """
    columns = MERGED_COLUMNS + [PUB_KEY] * (PUB_KEY in pubs.columns) + list(first_of)
    if title_keys is None:
        title_keys = title_merge_keys(pubs.get_column("title"))
    candidate = title_keys.hash().is_duplicated()
    if not candidate.any():
        return pubs.with_columns(pl.lit(1, dtype=pl.UInt32).alias("rows")).select(columns)
    key = ["kind", "_title_key", "date"]
    title_key = pl.col("title").str.to_lowercase().alias("_title_key")
    maybe = pubs.filter(candidate).with_columns(title_key)
    repeated = maybe.select(pl.struct(key).is_duplicated()).to_series()
    rows = candidate.arg_true().filter(repeated)
    is_repeated = pl.zeros(pubs.height, dtype=pl.Boolean, eager=True).scatter(rows, True)
    single = pubs.filter(~is_repeated).with_columns(pl.lit(1, dtype=pl.UInt32).alias("rows"))
    ordered = (
        pubs.filter(is_repeated).with_columns(title_key).sort(["kind", SOURCE_FILE, SOURCE_ROW])
    )
    ids = pl.col("source_id").drop_nulls()
    ordered = ordered.with_columns(
        ids.n_unique().over(key).alias("_n_ids"), ids.first().over(key).alias("_only_id")
    ).with_columns(
        pl.coalesce(
            pl.col("source_id"), pl.when(pl.col("_n_ids") == 1).then(pl.col("_only_id"))
        ).alias("_merge_id")
    )
    merged = ordered.group_by([*key, "_merge_id"], maintain_order=True).agg(
        pl.col("source_id").drop_nulls().first(),
        pl.col("title").first(),
        pl.col("journal").drop_nulls().first(),
        pl.col("date_text").first(),
        pl.col(SOURCE_FILE).first(),
        pl.col(SOURCE_ROW).first(),
        *[pl.col(c).first() for c in columns[len(MERGED_COLUMNS) :]],
        pl.len().alias("rows"),
    )
    merged = merged.drop("_title_key", "_merge_id").select(columns)
    return pl.concat([single.select(columns), merged])


def merge_drugs(drugs: pl.DataFrame) -> pl.DataFrame:
    """Fold drugs whose names match the same way (``Bétaméthasone``, ``BETAMETHASONE``) into one.

    Expects the ``pattern`` column of :func:`datapipeline.mentions.matching.drug_patterns`;
    keeps the first spelling and the first non-null ATC code; adds ``rows``.
    """
    return (
        drugs.sort([SOURCE_FILE, SOURCE_ROW])
        .group_by("pattern", maintain_order=True)
        .agg(
            pl.col("name").first(),
            pl.col("atccode").drop_nulls().first(),
            pl.col(SOURCE_FILE).first(),
            pl.col(SOURCE_ROW).first(),
            pl.len().alias("rows"),
        )
    )


def clean_drugs(raw: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Clean drug rows; return (kept, rejected). Names keep their spelling, trimmed."""
    frame = clean_text_columns(raw, ["atccode", "name"])
    blank = pl.col("atccode").is_null() & pl.col("name").is_null()
    reason = (
        pl.when(blank)
        .then(pl.lit(BLANK_ROW))
        .when(pl.col("name").is_null())
        .then(pl.lit(MISSING_NAME))
        .otherwise(None)
    )
    return _reject(frame, reason)
