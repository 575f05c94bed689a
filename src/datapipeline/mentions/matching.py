"""Matching rules: which drugs a title mentions, in one pass over all titles.

A drug is mentioned when its name occurs in the title as a whole word or phrase, ignoring case
and accents, with punctuation, hyphens, slashes and dashes as word boundaries and any run of
white space equal to one space. Both sides are brought to the same normal form (accents
stripped, lower case, every run of non-alphanumerics a single space, padded with one space);
then one multi-pattern automaton (Aho-Corasick, Polars ``str.extract_many``) finds every
``" name "`` in every ``" title "``. The padding spaces make the whole-word rule exact, and
overlapping matches keep two adjacent names (``"atropine epinephrine"``) and nested ones
(``"tranexamic acid"`` and ``"acid"``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from datapipeline.mentions.cleaning import NAME_WITHOUT_LETTERS


def normalize_for_matching(expr: pl.Expr) -> pl.Expr:
    """The normal form both titles and drug names are compared in (without the padding)."""
    return (
        expr.str.normalize("NFKD")
        .str.replace_all(r"[\p{Mn}\p{Cf}]+", "")
        .str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars(" ")
    )


def _padded(expr: pl.Expr) -> pl.Expr:
    return pl.concat_str(pl.lit(" "), expr, pl.lit(" "))


#: ASCII characters that are neither letters nor digits: word boundaries of the normal form.
_ASCII_BOUNDARIES = [chr(c) for c in range(128) if not chr(c).isalnum() and chr(c) != " "]


def padded_titles(titles: pl.DataFrame, column: str = "title") -> pl.Series:
    """``" " + normal form + " "`` of every title, computed cheaply where the title is ASCII.

    On ASCII text NFKD and the removal of marks change nothing and the letters and digits are
    ``[a-z0-9]`` once lower-cased: every other character becomes a space (one Aho-Corasick
    pass, much cheaper than a regex), then runs of spaces become one. The full Unicode form,
    several times dearer, runs only on the (few) non-ASCII titles. A title with no letter or
    digit becomes ``" "`` instead of ``"  "``: neither contains any ``" name "``.
    """
    title = pl.col(column)
    frame = titles.select(
        _padded(title.str.to_lowercase())
        .str.replace_many(_ASCII_BOUNDARIES, [" "] * len(_ASCII_BOUNDARIES))
        .str.replace_all(" {2,}", " ")
        .alias("padded"),
        (title.str.len_bytes() != title.str.len_chars()).alias("non_ascii"),
    )
    padded = frame.get_column("padded")
    rows = frame.get_column("non_ascii").arg_true()
    if rows.is_empty():
        return padded
    originals = titles.get_column(column).gather(rows)
    full = pl.select(_padded(normalize_for_matching(pl.lit(originals)))).to_series()
    return padded.clone().scatter(rows, full)


def drug_patterns(drugs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Add each drug's search ``pattern``; return (drugs, rejected).

    A name with no letter or digit can match nothing: it is rejected.
    """
    with_pattern = drugs.with_columns(normalize_for_matching(pl.col("name")).alias("pattern"))
    empty = pl.col("pattern").str.len_bytes() == 0
    rejected = with_pattern.filter(empty).with_columns(
        pl.lit(NAME_WITHOUT_LETTERS).alias("_reason")
    )
    return with_pattern.filter(~empty), rejected.drop("pattern")


#: Titles are matched in this many slices at once (threads: Polars releases the GIL).
MATCH_THREADS = max(1, min(os.cpu_count() or 1, 8))
#: Below this many titles one slice is cheaper than starting threads.
MIN_SLICE = 50_000


def find_mentions(
    titles: pl.DataFrame, drugs: pl.DataFrame, *, title_id: str = "pub_id", drug_id: str = "drug_id"
) -> pl.DataFrame:
    """Pairs (``title_id``, ``drug_id``) where the title mentions the drug, each pair once.

    ``titles`` has ``title_id`` and ``title``; ``drugs`` has ``drug_id`` and ``pattern`` (from
    :func:`drug_patterns`, one row per pattern). Large inputs are matched in slices on several
    threads: the automaton scan is single-threaded per call, the machine is not.
    """
    schema = {title_id: titles.schema[title_id], drug_id: drugs.schema[drug_id]}
    if drugs.is_empty() or titles.is_empty():
        return pl.DataFrame(schema=schema)
    patterns = [f" {p} " for p in drugs.get_column("pattern").to_list()]

    def match(part: pl.DataFrame) -> pl.DataFrame:
        return (
            part.select(title_id)
            .with_columns(
                padded_titles(part).str.extract_many(patterns, overlapping=True).alias("pattern")
            )
            .explode("pattern")
            .drop_nulls("pattern")
            .unique()
        )

    slices = min(MATCH_THREADS, max(1, titles.height // MIN_SLICE))
    if slices == 1:
        found = match(titles)
    else:
        size = -(-titles.height // slices)
        parts = [titles.slice(i * size, size) for i in range(slices)]
        with ThreadPoolExecutor(slices) as pool:
            found = pl.concat(list(pool.map(match, parts)))
    return (
        found.with_columns(pl.col("pattern").str.strip_chars(" "))
        .join(drugs.select(drug_id, "pattern"), on="pattern")
        .select(title_id, drug_id)
    )
