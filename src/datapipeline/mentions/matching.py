"""Matching rules: which drugs a title mentions, in one pass over all titles.

A drug is mentioned when its name occurs in the title as a whole word or phrase, ignoring case
and accents, with punctuation, hyphens, slashes and dashes as word boundaries and any run of
white space equal to one space. Both sides are brought to the same normal form (NFKD, marks and
format characters removed, lower case, every run of non-letters/digits one space): a drug is
mentioned when ``" " + its normal form + " "`` occurs in ``" " + the title's normal form + " "``.

The titles are not scanned for every name. Each title's normal form is cut into its words, and
every word is looked up in a hash set of the names' first words (one ``is_in`` over all the words
of all titles). A one-word name is mentioned where its word is found. Names of several words are
followed from their first word down the trie of the names' words: one vectorised step per word,
the next non-empty word of the same title appended to every prefix still alive, a prefix that is
a whole name a mention (a loop over word counts, never over titles or names). Adjacent names
(``"atropine epinephrine"``) and nested ones (``"tranexamic acid"`` and ``"acid"``) are all
found, as the rule says.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from datapipeline.kernels.bytetable import translate_ascii
from datapipeline.mentions.cleaning import ASCII_WORDS, NAME_WITHOUT_LETTERS, merge_keys_of


def normalize_for_matching(expr: pl.Expr) -> pl.Expr:
    """The normal form both titles and drug names are compared in (without the padding)."""
    return (
        expr.str.normalize("NFKD")
        .str.replace_all(r"[\p{Mn}\p{Cf}]+", "")
        .str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]+", " ")
        .str.strip_chars(" ")
    )


def _words_of(values: pl.Series, mapped: pl.Series, others: pl.Series) -> pl.Series:
    words = mapped.fill_null("") if mapped.null_count() else mapped
    if others.is_empty():
        return words
    full = pl.select(normalize_for_matching(pl.lit(values.gather(others)))).to_series()
    return words.clone().scatter(others, full)


def title_words(titles: pl.Series) -> pl.Series:
    """Each title's normal form, words separated by spaces, runs of spaces NOT collapsed.

    Splitting it on ``" "`` gives the title's words in order, with empty strings where two
    boundaries were adjacent (``"acid, b"`` → ``["acid", "", "b"]``). On ASCII text NFKD and
    the removal of marks change nothing and the letters and digits are ``[A-Za-z0-9]``: a byte
    table (:func:`~datapipeline.kernels.bytetable.translate_ascii`) lower-cases the letters and
    makes every other character a space. The full Unicode form, several times dearer, runs only
    on the (few) non-ASCII titles. A null title is ``""``.
    """
    return _words_of(titles, *translate_ascii(titles, ASCII_WORDS))


def words_and_merge_keys(titles: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(:func:`title_words`, :func:`title_merge_keys`) of ``titles``, with one byte-table pass:
    on ASCII titles they are the same."""
    mapped, others = translate_ascii(titles, ASCII_WORDS)
    return _words_of(titles, mapped, others), merge_keys_of(titles, mapped, others)


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
#: At most this many titles per slice: the words of a slice are held in memory at once.
MAX_SLICE = 100_000


@dataclass(frozen=True)
class _Names:
    """The distinct patterns, split for the word-by-word walk.

    ``ids``: ``pattern_id``, ``pattern``. ``first_words``: the words a name starts with (the
    words looked up in every title). ``one_word``: the names of one word (``pattern``,
    ``pattern_id``). ``longer``: the names of several words (``pattern``, ``pattern_id``).
    ``starts``: the first words of those names. ``prefixes``: every beginning of those names of
    two words or more (``"a b"``, ``"a b c"`` for ``"a b c"``). ``most_words``: the longest name.
    """

    ids: pl.DataFrame
    first_words: pl.Series
    one_word: pl.DataFrame
    longer: pl.DataFrame
    starts: pl.Series
    prefixes: pl.Series
    most_words: int


def _names(drugs: pl.DataFrame) -> _Names:
    """The patterns of ``drugs``. A pattern that is not in normal form (empty, or with leading,
    trailing or doubled spaces) could never occur in a title's normal form: it is left out."""
    patterns = (
        drugs.select(pl.col("pattern").unique())
        .with_columns(pl.col("pattern").str.split(" ").alias("words"))
        .filter(~pl.col("words").list.eval(pl.element() == "").list.any())
        .with_row_index("pattern_id")
        .with_columns(pl.col("words").list.len().alias("word_count"))
    )
    several = pl.col("word_count") > 1
    longer = patterns.filter(several)
    prefixes = (
        longer.select(pl.col("words"), pl.int_ranges(2, pl.col("word_count") + 1).alias("length"))
        .explode("length")
        .select(pl.col("words").list.head(pl.col("length")).list.join(" "))
        .to_series()
        .unique()
    )
    return _Names(
        ids=patterns.select("pattern_id", "pattern"),
        first_words=patterns.get_column("words").list.first().unique(),
        one_word=patterns.filter(~several).select("pattern", "pattern_id"),
        longer=longer.select("pattern", "pattern_id"),
        starts=longer.get_column("words").list.first().unique(),
        prefixes=prefixes,
        most_words=int(patterns.get_column("word_count").max() or 0),  # type: ignore[arg-type]
    )


def _longer_names(
    names: _Names, starts: pl.DataFrame, tokens: pl.Series, ends: pl.Series
) -> pl.DataFrame:
    """(``row``, ``pattern_id``) of the names of several words found from ``starts`` (``row``:
    a title, ``pos``: where the first word of such a name is among all titles' words,
    ``prefix``: that word).

    One step per word: the next non-empty word of the same title is appended to each prefix,
    and only the prefixes that begin some name go on (a walk down the names' word trie, all
    starts at once); a prefix that is a whole name is a mention.
    """
    # the non-empty words of those titles from their first start on, in order
    firsts = starts.group_by("row").agg(pl.col("pos").min()).sort("row")
    rows = firsts.get_column("row")
    spans = pl.DataFrame(
        {"row": rows, "pos": pl.int_ranges(firsts.get_column("pos"), ends.gather(rows), eager=True)}
    ).explode("pos")
    spans = spans.with_columns(tokens.gather(spans.get_column("pos")).alias("token")).filter(
        pl.col("token") != ""
    )
    span_rows, span_tokens, last = (
        spans.get_column("row"),
        spans.get_column("token"),
        spans.height - 1,
    )
    walk = starts.select(
        "row", "prefix", spans.get_column("pos").search_sorted(starts.get_column("pos")).alias("at")
    )
    prefixes = names.prefixes.implode()
    found = []
    for _ in range(1, names.most_words):
        at = walk.get_column("at") + 1
        following = at.clip(upper_bound=last)
        walk = walk.with_columns(
            at.alias("at"),
            pl.concat_str(pl.col("prefix"), pl.lit(" "), span_tokens.gather(following)),
        ).filter(
            (at <= last)
            & (span_rows.gather(following) == walk.get_column("row"))
            & pl.col("prefix").is_in(prefixes)
        )
        if walk.is_empty():
            break
        found.append(walk.join(names.longer, left_on="prefix", right_on="pattern"))
    return (
        pl.concat([f.select("row", "pattern_id") for f in found])
        if found
        else pl.DataFrame(schema={"row": pl.get_index_type(), "pattern_id": pl.get_index_type()})
    )


def find_mentions(
    titles: pl.DataFrame,
    drugs: pl.DataFrame,
    words: pl.Series | None = None,
    *,
    title_id: str = "pub_id",
    drug_id: str = "drug_id",
) -> pl.DataFrame:
    """Pairs (``title_id``, ``drug_id``) where the title mentions the drug, each pair once.

    ``titles`` has ``title_id`` and ``title``; ``drugs`` has ``drug_id`` and ``pattern`` (from
    :func:`drug_patterns`, one row per pattern); ``words``: the :func:`title_words` of the
    titles when the caller has them already. Large inputs are matched in slices on several
    threads: most steps are single-threaded per call, the machine is not.
    """
    schema = {title_id: titles.schema[title_id], drug_id: drugs.schema[drug_id]}
    if drugs.is_empty() or titles.is_empty():
        return pl.DataFrame(schema=schema)
    names = _names(drugs)
    first_words = names.first_words.implode()
    starts = names.starts.implode()

    def match(part: pl.DataFrame, part_words: pl.Series | None) -> pl.DataFrame:
        if part_words is None:
            part_words = title_words(part.get_column("title"))
        words = part_words.str.split(" ")
        # each title's words end here in ``tokens`` (no null, no empty list: explode copies nothing)
        ends = words.list.len().fill_null(0).cum_sum()
        tokens = words.explode(empty_as_null=False, keep_nulls=False)
        pos = tokens.is_in(first_words).arg_true()
        hits = pl.DataFrame(
            {"row": ends.search_sorted(pos, side="right"), "pos": pos, "prefix": tokens.gather(pos)}
        )
        found = hits.join(names.one_word, left_on="prefix", right_on="pattern").select(
            "row", "pattern_id"
        )
        if not names.longer.is_empty():
            begun = hits.filter(pl.col("prefix").is_in(starts))
            if not begun.is_empty():
                found = pl.concat([found, _longer_names(names, begun, tokens, ends)])
        # each (title, name) once: unique on one 64-bit key (much cheaper than on two columns)
        key = found.select(
            (pl.col("row").cast(pl.UInt64) * 2**32 + pl.col("pattern_id")).unique().alias("key")
        ).get_column("key")
        return pl.DataFrame(
            {
                title_id: part.get_column(title_id).gather(key // 2**32),
                "pattern_id": (key % 2**32).cast(pl.get_index_type()),
            }
        )

    threads = min(MATCH_THREADS, max(1, titles.height // MIN_SLICE))
    slices = max(threads, -(-titles.height // MAX_SLICE))
    if slices == 1:
        found = match(titles, words)
    else:
        size = -(-titles.height // slices)
        offsets = range(0, slices * size, size)

        def match_slice(offset: int) -> pl.DataFrame:
            part_words = None if words is None else words.slice(offset, size)
            return match(titles.slice(offset, size), part_words)

        with ThreadPoolExecutor(threads) as pool:
            found = pl.concat(list(pool.map(match_slice, offsets)))
    ids = names.ids.join(drugs.select(drug_id, "pattern"), on="pattern")
    return found.join(ids, on="pattern_id").select(title_id, drug_id)


class Matcher(Protocol):
    """Finds the mentions: (titles, drugs, words) → the (``pub_id``, ``drug_id``) pairs where
    the title mentions the drug, each pair once.

    ``titles`` has ``pub_id`` (any unique key: the local engine passes the numbers of the
    cleaned rows, matched before merging), ``title``, ``kind`` and the provenance of the
    title's row; ``drugs`` has ``drug_id`` and ``pattern``; ``words``: the titles'
    :func:`title_words`, computed already. :func:`find_mentions` is the matcher; an engine
    may pass one that reuses earlier results (it must return what find_mentions would).
    """

    def __call__(
        self, titles: pl.DataFrame, drugs: pl.DataFrame, words: pl.Series | None = None
    ) -> pl.DataFrame: ...
