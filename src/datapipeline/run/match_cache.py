"""Match results cached per lake part, so that a rerun matches only titles it has not matched.

See :mod:`datapipeline.run.state` for when a cached result stands.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import polars as pl
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from datapipeline.lake import PARQUET_SUFFIX, Lake
from datapipeline.mentions.matching import find_mentions, title_words
from datapipeline.run.state import MATCHES_DIR, PATTERNS_DIR, Changes, State, write_atomically
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

#: The titles' words (:func:`title_words`), carried beside them while parts are sorted out.
_WORDS = "_words"


def patterns_digest(patterns: Iterable[str]) -> str:
    """A short hash naming a set of drug patterns."""
    return hashlib.sha256("\n".join(sorted(set(patterns))).encode("utf-8")).hexdigest()[:20]


class CachedMatcher:
    """A :data:`~datapipeline.mentions.matching.Matcher` that reuses the match results cached per
    part and stores what it had to compute. Returns what :func:`find_mentions` returns."""

    def __init__(self, lake: Lake, state: State, changes: Changes) -> None:
        self.lake = lake
        self.state = state
        self.changes = changes
        # cache files are written in the background; wait() before the state is saved
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="match-cache")
        self._pending: list[Future[None]] = []

    def wait(self) -> None:
        """Finish writing the cache files (raises the first write error, if any)."""
        try:
            for future in self._pending:
                future.result()
        finally:
            self._pool.shutdown(wait=True)
            self._pending = []

    def __call__(
        self, titles: pl.DataFrame, drugs: pl.DataFrame, words: pl.Series | None = None
    ) -> pl.DataFrame:
        # the words travel with their titles through the filters below
        if words is None:
            words = title_words(titles.get_column("title"))
        titles = titles.with_columns(words.alias(_WORDS))
        patterns = drugs.select("pattern").unique()
        digest = patterns_digest(patterns.get_column("pattern").to_list())
        self._save_patterns(patterns, digest)
        # the rows of each input file, in order of first appearance; the row numbers' sum
        # tells a cache made for other rows of the file (other cleaning rules) from this one
        parts = titles.group_by(SOURCE_FILE, maintain_order=True).agg(
            pl.len().alias("rows"), pl.col(SOURCE_ROW).cast(pl.Int64).sum().alias("row_sum")
        )
        keys: dict[Any, str | None] = {}
        cached: dict[Any, tuple[pl.DataFrame, pl.Series]] = {}
        for source_file, rows, row_sum in parts.iter_rows():
            key = keys[source_file] = self.state.part_for(str(source_file))
            entry = self.state.matches.get(key) if key is not None else None
            if entry is not None and (entry.get("rows"), entry.get("row_sum")) == (rows, row_sum):
                loaded = self._load(entry)
                if loaded is not None:
                    cached[source_file] = loaded
        found = []
        if cached:
            in_cache = titles.filter(pl.col(SOURCE_FILE).is_in(list(cached)))
            for (source_file,), part_titles in in_cache.partition_by(
                SOURCE_FILE, as_dict=True, maintain_order=True
            ).items():
                key = keys[source_file]
                assert key is not None
                pairs = self._part_pairs(key, part_titles, patterns, digest, cached[source_file])
                found.append(part_titles.join(pairs, on=SOURCE_ROW).select("pub_id", "pattern"))
        if len(cached) < len(keys):
            # no filter (no copy of the titles) when nothing is cached: a full refresh
            fresh = titles.filter(~pl.col(SOURCE_FILE).is_in(list(cached))) if cached else titles
            uncached = parts.filter(~pl.col(SOURCE_FILE).is_in(list(cached)))
            found.append(self._match_uncached(fresh, uncached, keys, patterns, digest))
        if not found:
            return pl.DataFrame(schema={"pub_id": titles.schema["pub_id"], "drug_id": pl.String})
        return (
            pl.concat(found)
            .join(drugs.select("drug_id", "pattern"), on="pattern")
            .select("pub_id", "drug_id")
            .unique()
        )

    def _match_uncached(
        self,
        titles: pl.DataFrame,
        parts: pl.DataFrame,
        keys: dict[Any, str | None],
        patterns: pl.DataFrame,
        digest: str,
    ) -> pl.DataFrame:
        """(``pub_id``, ``pattern``) for the titles of the parts with nothing cached (every
        part on a full refresh), matched in ONE call: the threads of :func:`find_mentions` get
        even slices of all titles. Each part's mentions are then cached. ``parts``: the parts'
        ``_source_file``, ``rows`` and ``row_sum``."""
        pairs = find_mentions(
            titles.select("title").with_row_index("_title"),
            patterns.select(pl.col("pattern").alias("_pattern_id"), "pattern"),
            titles.get_column(_WORDS),
            title_id="_title",
            drug_id="_pattern_id",
        ).rename({"_pattern_id": "pattern"})
        # the pairs' titles by position (the row index is the position in ``titles``)
        rows = titles.select("pub_id", SOURCE_FILE, SOURCE_ROW)
        matched = rows[pairs.get_column("_title")].with_columns(pairs.get_column("pattern"))
        by_file = matched.partition_by(SOURCE_FILE, as_dict=True)
        empty = matched.head(0)
        for source_file, height, row_sum in parts.iter_rows():
            key = keys[source_file]
            if key is None:  # not imported by a run: nothing to cache it for
                self.changes.matched_titles[str(source_file)] = height
                continue
            self.changes.matched_titles[key] = height
            mentions = by_file.get((source_file,), empty)
            self._store(key, mentions.select(SOURCE_ROW, "pattern"), digest, height, row_sum)
        return matched.select("pub_id", "pattern")

    def _part_pairs(
        self,
        key: str,
        titles: pl.DataFrame,
        patterns: pl.DataFrame,
        digest: str,
        cached: tuple[pl.DataFrame, pl.Series],
    ) -> pl.DataFrame:
        """(``_source_row``, ``pattern``) for the titles of one part, from its cache: the
        mentions of every row of the part, found with the cache's pattern set. Patterns the
        drug list gained are matched against the part's titles; lost ones are dropped."""
        table, old_patterns = cached
        current = patterns.get_column("pattern").implode()
        pairs = table.filter(pl.col("pattern").is_in(current))
        added = patterns.filter(~pl.col("pattern").is_in(old_patterns.implode()))
        if not added.is_empty():
            pairs = pl.concat([pairs, _match(titles, added)])
            self.changes.rematched[key] = (titles.height, added.height)
        entry = self.state.matches[key]
        if entry["patterns"] != digest:
            self._store(key, pairs, digest, entry["rows"], entry["row_sum"])
        return pairs

    def _load(self, entry: dict[str, Any]) -> tuple[pl.DataFrame, pl.Series] | None:
        fs, root = self.lake.fs, self.lake.root
        try:
            with fs.open_input_file(f"{root}/{entry['file']}") as handle:
                covered = pl.read_parquet(io.BytesIO(handle.read()))
            name = f"{root}/{PATTERNS_DIR}/{entry['patterns']}{PARQUET_SUFFIX}"
            with fs.open_input_file(name) as handle:
                patterns = pl.read_parquet(io.BytesIO(handle.read())).get_column("pattern")
        except (OSError, pl.exceptions.PolarsError):
            return None
        return covered, patterns

    def _store(self, key: str, table: pl.DataFrame, digest: str, rows: int, row_sum: int) -> None:
        name = f"{MATCHES_DIR}/{key}-{uuid.uuid4().hex[:12]}{PARQUET_SUFFIX}"
        table = table.cast({SOURCE_ROW: pl.Int64})

        def write() -> None:
            buffer = io.BytesIO()
            table.write_parquet(buffer, compression="lz4")  # cheap: written on every refresh
            write_atomically(self.lake, name, buffer.getvalue())

        self._pending.append(self._pool.submit(write))
        self.state.matches[key] = {
            "file": name,
            "patterns": digest,
            "rows": rows,
            "row_sum": row_sum,
        }

    def _save_patterns(self, patterns: pl.DataFrame, digest: str) -> None:
        name = f"{PATTERNS_DIR}/{digest}{PARQUET_SUFFIX}"
        if self.lake.fs.get_file_info(f"{self.lake.root}/{name}").type == pafs.FileType.File:
            return
        buffer = io.BytesIO()
        pq.write_table(patterns.sort("pattern").to_arrow(), buffer)
        write_atomically(self.lake, name, buffer.getvalue())


def _match(rows: pl.DataFrame, patterns: pl.DataFrame) -> pl.DataFrame:
    """(``_source_row``, ``pattern``) pairs where the row's title holds the pattern."""
    return (
        find_mentions(
            rows.select(SOURCE_ROW, "title"),
            patterns.select(pl.col("pattern").alias("_pattern_id"), "pattern"),
            rows.get_column(_WORDS),
            title_id=SOURCE_ROW,
            drug_id="_pattern_id",
        )
        .rename({"_pattern_id": "pattern"})
        .cast({SOURCE_ROW: pl.Int64})
    )
