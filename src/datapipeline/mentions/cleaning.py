"""Cleaning rules, written once and applied by every engine (local, Airflow, Beam, ``Graph``).

Every function here takes and returns Polars frames or expressions: rules are vectorised over
whole columns. The few values that need Python (literal escaped bytes, content hashes) are rare;
they are computed once per distinct value, and only the rows whose value changes are rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

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


def map_rare_values(
    frame: pl.DataFrame, column: str, needs: pl.Expr, function: Callable[[str], str]
) -> pl.DataFrame:
    """Apply a Python ``function`` to the distinct values of ``column`` selected by ``needs``.

    For rules that Polars cannot express but that touch few values: each distinct value is
    computed once, and only the values it changes are replaced (in the rows that hold them).
    """
    rare = frame.filter(needs).get_column(column).drop_nulls().unique()
    if rare.is_empty():
        return frame
    old = rare.to_list()
    new = [function(v) for v in old]
    return replace_values(frame, column, old, new)


def replace_values(
    frame: pl.DataFrame, column: str, old: list[Any], new: list[Any]
) -> pl.DataFrame:
    """``column`` with each value of ``old`` replaced by the one at its position in ``new``
    (distinct old values); the rows that hold none of the values that change are not touched,
    and the frame is returned as it is when no value changes."""
    changed = [(o, n) for o, n in zip(old, new, strict=True) if o != n]
    if not changed:
        return frame
    values = frame.get_column(column)
    before, after = zip(*changed, strict=True)
    rows = values.is_in(pl.Series(before, dtype=values.dtype).implode()).arg_true()
    fixed = values.gather(rows).replace(list(before), list(after))
    return frame.with_columns(values.clone().scatter(rows, fixed).alias(column))


def ascii_table(mapping: Callable[[str], str]) -> bytes:
    """A 256-byte table for :func:`translate_ascii`: each ASCII byte mapped through ``mapping``
    (to one ASCII character), the other bytes left as they are."""
    table = bytearray(range(256))
    for code in range(128):
        (table[code],) = mapping(chr(code)).encode("ascii")
    return bytes(table)


def translate_ascii(values: pl.Series, table: bytes) -> tuple[pl.Series, pl.Series]:
    """(``values`` with every byte mapped through ``table``, the positions of the values that
    are not ASCII).

    All values' bytes are mapped in one table lookup over the Arrow data buffer, several times
    cheaper than Polars' ``replace_many`` or ``to_lowercase`` over millions of strings. Only
    the ASCII values come out right for a rule on characters (``table`` from
    :func:`ascii_table` leaves the bytes of other characters as they are): the caller computes
    the others, few in practice, by the rule itself. Nulls stay null.
    """
    array = values.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type != pa.large_string():
        array = array.cast(pa.large_string())
    validity, offsets, data = array.buffers()
    if data is None:
        return values, pl.Series(dtype=pl.get_index_type())
    translated, high_bytes = _translated(data, table)
    mapped = pl.Series(
        values.name,
        pa.Array.from_buffers(
            array.type, len(array), [validity, offsets, translated], array.null_count, array.offset
        ),
    )
    # the values holding a byte of 0x80 or more: the bytes' positions, found by value
    ends = np.frombuffer(offsets, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    rows = np.unique(np.searchsorted(ends, high_bytes, side="right") - 1)
    rows = rows[(rows >= 0) & (rows < len(array))]
    others = pl.Series(rows, dtype=pl.get_index_type())
    if values.null_count():
        others = others.filter(values.gather(others).is_not_null())
    return mapped, others


@functools.cache
def _pair_table(table: bytes) -> np.ndarray:
    """``table`` for two bytes at once: 65,536 entries of 16 bits (in the machine's order)."""
    pairs = np.arange(1 << 16, dtype=np.uint16).tobytes()
    return np.frombuffer(pairs.translate(table), dtype=np.uint16)


#: Pairs of bytes looked up per NumPy call: the positions, widened to 64 bits for ``take``,
#: stay in the cache (widening the whole buffer at once costs eight bytes per pair of memory).
_PAIRS_AT_ONCE = 1 << 16


def _translated(data: pa.Buffer, table: bytes) -> tuple[pa.Buffer, np.ndarray]:
    """(The bytes of ``data`` mapped through ``table``, in a new Arrow buffer; the positions
    of the bytes of 0x80 or more, those of characters that are not ASCII).

    Looked up two bytes at a time in :func:`_pair_table` (half the lookups of a byte table,
    which fits in the cache all the same), by NumPy without the GIL: ``bytes.translate`` held it
    for the whole buffer while the other threads of the job waited, and cost 2.5 times as much.
    """
    codes = np.frombuffer(data, dtype=np.uint8)
    # from malloc, not Arrow's default pool (mimalloc) nor NumPy's allocator: those ask for huge
    # pages, whose first touch here (a VM) cost up to 0.25 s of system time per run
    buffer = pa.allocate_buffer(len(codes), memory_pool=pa.system_memory_pool())
    out = np.frombuffer(buffer, dtype=np.uint8)
    even = len(codes) & ~1
    pairs, pairs_out = codes[:even].view(np.uint16), out[:even].view(np.uint16)
    lookup = _pair_table(table)
    positions = np.empty(min(len(pairs), _PAIRS_AT_ONCE), dtype=np.intp)
    high = []
    for start in range(0, len(pairs), _PAIRS_AT_ONCE):
        end = min(start + _PAIRS_AT_ONCE, len(pairs))
        some = positions[: end - start]
        some[:] = pairs[start:end]
        np.take(lookup, some, out=pairs_out[start:end], mode="wrap")
        high.append(np.flatnonzero(codes[2 * start : 2 * end] >= 0x80) + 2 * start)
    if even < len(codes):
        out[even] = table[codes[even]]
        high.append(np.flatnonzero(codes[even:] >= 0x80) + even)
    return buffer, np.concatenate(high) if high else np.empty(0, dtype=np.intp)


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


def needs_squash(values: pl.Series) -> pl.Series:
    """Whether :func:`squash_whitespace` may change each value (beyond '' → null): a superset of
    the values :data:`_NEEDS_SQUASH` finds, several times cheaper on long text.

    A value of printable ASCII only (Arrow's ``ascii_is_printable``, a byte test) has no white
    space but plain spaces and no control character: only a space at either end or two in a
    row change it. Any other value (non-ASCII, control characters) is let through.
    """
    array = values.to_arrow()
    odd = pl.Series(pc.invert(pc.ascii_is_printable(array)))
    spaces = (
        values.str.contains("  ", literal=True)
        | values.str.starts_with(" ")
        | values.str.ends_with(" ")
    )
    return (odd | spaces).fill_null(False).alias(values.name)


def on_some_rows(
    frame: pl.DataFrame, column: str, needs: pl.Series, rule: Callable[[pl.Expr], pl.Expr]
) -> pl.DataFrame:
    """Apply the expression ``rule`` to ``column`` only in the rows selected by ``needs``.

    The same result as applying it everywhere when it leaves the other rows unchanged; but
    rewriting a million titles (a regex replace allocates every string anew) costs several
    times a search that finds the few rows to rewrite.
    """
    rows = needs.fill_null(False).arg_true()
    if rows.is_empty():
        return frame
    values = frame.get_column(column)
    fixed = pl.select(rule(pl.lit(values.gather(rows)))).to_series()
    return frame.with_columns(values.clone().scatter(rows, fixed).alias(column))


def on_distinct_values(
    frame: pl.DataFrame, column: str, rule: Callable[[pl.Expr], pl.Expr], alias: str
) -> pl.DataFrame:
    """Compute ``rule(column)`` once per distinct value and map it back into ``alias``.

    For columns with few distinct values: a million rows carry a few thousand dates and a few
    hundred journals, and cleaning those costs a fraction of cleaning every row. A rule that
    rewrites ``column`` in place (``alias == column``, same type) changes only the rows whose
    value it changes; otherwise the results are joined back to every row.
    """
    distinct = frame.select(pl.col(column).unique())
    mapping = distinct.with_columns(rule(pl.col(column)).alias("_mapped"))
    in_place = alias == column and mapping.schema["_mapped"] == mapping.schema[column]
    if in_place and mapping.filter(pl.col(column).is_null())["_mapped"].is_null().all():
        values = mapping.filter(pl.col(column).is_not_null())
        old, new = values.get_column(column).to_list(), values.get_column("_mapped").to_list()
        return replace_values(frame, column, old, new)
    mapped = frame.select(column).join(
        mapping, on=column, how="left", nulls_equal=True, maintain_order="left"
    )
    return frame.with_columns(mapped.get_column("_mapped").alias(alias))


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
            frame, column, needs_squash(frame.get_column(column)), squash_whitespace
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


def is_blank(values: pl.Series) -> pl.Series:
    """Whether each value is null, empty or white space only.

    A value whose first character is printable ASCII other than the space is not blank: two
    comparisons with a string decide most values without reading their text (a string view
    holds its first bytes inline); an anchored regex decides the others.
    """
    decided = ((values >= "!") & (values < "\x7f")).fill_null(False)
    rows = (~decided).arg_true()
    blank = pl.zeros(len(values), dtype=pl.Boolean, eager=True)
    if rows.is_empty():
        return blank
    others = values.gather(rows)
    return blank.scatter(rows, others.is_null() | others.str.contains(r"^\s*$"))


def blank_rows(frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """Whether each row is blank in every one of ``columns`` (:func:`is_blank`); each column
    after the first is tested only on the rows still blank."""
    rows: pl.Series | None = None
    for column in columns:
        values = frame.get_column(column)
        blank = is_blank(values if rows is None else values.gather(rows))
        rows = blank.arg_true() if rows is None else rows.filter(blank)
        if rows.is_empty():
            break
    blank_all = pl.zeros(frame.height, dtype=pl.Boolean, eager=True)
    return blank_all if rows is None else blank_all.scatter(rows, True)


def content_id(*parts: str) -> str:
    """A stable id derived from content, for records whose source gave none."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:16]


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
        no_date = no_date.scatter(unread, is_blank(frame.get_column("date_text").gather(unread)))
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


def merge_publications(pubs: pl.DataFrame, title_keys: pl.Series | None = None) -> pl.DataFrame:
    """Fold publications listed more than once (same kind, title and date) into one record.

    Fields are coalesced in input order (first non-null wins); the title, date text,
    provenance and :data:`PUB_KEY` (when present) are the first row's. A row without an id joins
    the group of the one id its title and date carry; rows with different ids stay apart, since
    two registrations with one title are two records. Titles are the same when their lower
    case is. Adds ``rows`` (how many rows were folded).

    Nearly every row is unique. A cheap test first keeps the candidates: rows whose title's
    :func:`title_merge_keys` (``title_keys``, when the caller has them) hashes like another
    row's (a superset of the rows whose key repeats: same title, other dates or kinds, titles
    differing by punctuation, and hash collisions, are let through). Only the candidates get
    the exact key; the others pass through with ``rows`` = 1.
    """
    columns = MERGED_COLUMNS + [PUB_KEY] * (PUB_KEY in pubs.columns)
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
