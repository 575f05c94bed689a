"""Incremental runs: import only the input files that changed, match only titles not matched yet.

The lake keeps one part per input file (part name = file name). Its state, one small JSON file
(``_state/inputs.json``, written atomically), records per part the input file it came from
(path, size, SHA-256) and the size of the Parquet part written; a rerun re-reads a file only
when one of those changed, and drops the parts of files that are gone.

Matching is cached per part (``_state/matches/<table>/<part>-<token>.parquet``): the mentions
(``_source_row``, pattern) of every kept row of the part, the drug patterns they were matched
against, and how many rows were matched (with the sum of their row numbers). Titles are
matched as cleaned, before duplicates are merged, so the rows matched depend on the part alone;
a title's mentions depend on nothing but its text and the patterns. A cached result stands
while the part's input file is unchanged; a drug list that gains patterns gets only those
matched against the part's titles, and lost patterns are dropped. Merging duplicates, node ids
and the graph are computed on every row each run: they are cheap, and they depend on all rows
at once. The result is the graph a full rebuild writes, byte for
byte (tested).
"""

from __future__ import annotations

import contextvars
import hashlib
import io
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from datapipeline.config import Source
from datapipeline.lake import PARQUET_SUFFIX, Lake
from datapipeline.lake import STATE_DIR as LAKE_STATE_DIR
from datapipeline.mentions.matching import WORDS, find_mentions
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

log = logging.getLogger(__name__)

#: Bumped when readers, cleaning or matching rules change what a cached result would hold.
CACHE_VERSION = 2
#: The run's own folder of the lake's ``_state``: database sources keep their watermarks in
#: ``_state/<source_id>.json`` (see ``Lake.write_state``), so nothing here may be a ``*.json``
#: directly under ``_state`` (a source named ``inputs`` would overwrite it).
STATE_DIR = f"{LAKE_STATE_DIR}/run"
STATE_FILE = f"{STATE_DIR}/inputs.json"
MATCHES_DIR = f"{STATE_DIR}/matches"
PATTERNS_DIR = f"{STATE_DIR}/patterns"


def file_digest(path: str, chunk: int = 1 << 20) -> tuple[int, str]:
    """(size in bytes, SHA-256 hex) of a local file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def patterns_digest(patterns: Iterable[str]) -> str:
    """A short hash naming a set of drug patterns."""
    return hashlib.sha256("\n".join(sorted(set(patterns))).encode("utf-8")).hexdigest()[:20]


@dataclass
class Changes:
    """What an incremental run did: parts imported, kept, removed; titles matched afresh."""

    imported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    full_refresh: bool = False
    #: titles matched against every pattern (no usable cache), per part
    matched_titles: dict[str, int] = field(default_factory=dict)
    #: (titles, patterns) matched because the drug list gained patterns, per part
    rematched: dict[str, tuple[int, int]] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the console."""
        mode = "full refresh" if self.full_refresh else "incremental"
        matched = sum(self.matched_titles.values())
        return (
            f"{mode}: {len(self.imported)} files imported, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed; {matched} titles matched"
            + (f", {len(self.rematched)} parts matched for new drugs" if self.rematched else "")
        )


class State:
    """The lake's record of its inputs and of the cached match results."""

    def __init__(self, lake: Lake, data: dict[str, Any] | None = None) -> None:
        self.lake = lake
        data = data or {}
        if data.get("version") != CACHE_VERSION:
            data = {}
        self.inputs: dict[str, dict[str, Any]] = data.get("inputs", {})
        self.matches: dict[str, dict[str, Any]] = data.get("matches", {})

    @classmethod
    def load(cls, lake: Lake) -> State:
        """The saved state, or an empty one (first run, unreadable or older state)."""
        path = f"{lake.root}/{STATE_FILE}"
        if lake.fs.get_file_info(path).type != pafs.FileType.File:
            return cls(lake)
        try:
            with lake.fs.open_input_stream(path) as handle:
                return cls(lake, json.loads(handle.read().decode("utf-8")))
        except (OSError, ValueError):
            log.warning("%s: unreadable incremental state; rebuilding", path)
            return cls(lake)

    def save(self) -> None:
        """Write the state atomically, then delete cache files it no longer refers to."""
        data = {"version": CACHE_VERSION, "inputs": self.inputs, "matches": self.matches}
        body = json.dumps(data, indent=1, sort_keys=True).encode("utf-8")
        write_atomically(self.lake, STATE_FILE, body)
        live = {m["file"] for m in self.matches.values()} | {
            f"{PATTERNS_DIR}/{m['patterns']}{PARQUET_SUFFIX}" for m in self.matches.values()
        }
        for folder in (MATCHES_DIR, PATTERNS_DIR):
            selector = pafs.FileSelector(f"{self.lake.root}/{folder}", True, recursive=True)
            for info in self.lake.fs.get_file_info(selector):
                relative = info.path[len(self.lake.root) + 1 :]
                if info.type == pafs.FileType.File and relative not in live:
                    self.lake.fs.delete_file(info.path)
        # temporary files of a state write killed midway (one run owns a lake's state)
        state_dir = f"{self.lake.root}/{STATE_FILE}".rsplit("/", 1)[0]
        for info in self.lake.fs.get_file_info(pafs.FileSelector(state_dir, True)):
            if info.base_name.startswith(".") and info.base_name.endswith(".tmp"):
                self.lake.fs.delete_file(info.path)

    def part_for(self, source_file: str) -> str | None:
        """The ``table/part`` key of the part imported from ``source_file``."""
        for key, entry in self.inputs.items():
            if entry["path"] == source_file:
                return key
        return None


def write_atomically(lake: Lake, name: str, body: bytes) -> None:
    """Write ``body`` to ``name`` under the lake root, atomically."""
    lake.write_bytes(f"{lake.root}/{name}", body)


def _part_sizes(lake: Lake, table: str) -> dict[str, int]:
    return {
        Path(path).name[: -len(PARQUET_SUFFIX)]: lake.fs.get_file_info(path).size
        for path in lake.part_files(table)
    }


class ImportedParts:
    """Parts this run imported, kept in memory while their Parquet files are written.

    The process step reads these from memory (no read-back of what was just written) and the
    other parts from the lake; :meth:`wait` blocks until every write has finished and records
    the written sizes in the state. Writes run on one background thread so that reading the
    next file, and cleaning and matching, overlap with them.
    """

    def __init__(self, lake: Lake, state: State) -> None:
        self.lake = lake
        self.state = state
        self.tables: dict[str, dict[str, pa.Table]] = {}
        #: (kept, rejected) of parts cleaned as they were read, by table and part
        self.cleaned: dict[str, dict[str, tuple[pl.DataFrame, pl.DataFrame]]] = {}
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="lake-writer")
        self._pending: list[tuple[str, Future[str]]] = []

    def add(self, source: Source, data: pa.Table) -> None:
        """Keep ``data`` as the part of ``source`` and start writing it to the lake."""
        self.tables.setdefault(source.dest_table, {})[source.source_id] = data
        key = f"{source.dest_table}/{source.source_id}"
        future = self._pool.submit(self.lake.write_part, source.dest_table, source.source_id, data)
        self._pending.append((key, future))

    def read_frame(self, table: str) -> pl.DataFrame:
        """The whole of ``table``: parts imported now from memory, the others from the lake,
        in part-name order (what :meth:`Lake.read_frame` returns once the writes are done)."""
        fresh = self.tables.get(table, {})
        if not fresh:
            return self.lake.read_frame(table)
        on_disk = {
            Path(path).name[: -len(PARQUET_SUFFIX)]: path for path in self.lake.part_files(table)
        }
        frames: list[pl.DataFrame] = []
        for name in sorted(set(on_disk) | set(fresh)):
            if name in fresh:
                frames.append(pl.DataFrame(fresh[name]))  # string views: no copy
            else:
                frames.append(self.lake.read_part_frame(on_disk[name]))
        return pl.concat(frames, how="vertical_relaxed")

    def add_cleaned(self, source: Source, cleaned: tuple[pl.DataFrame, pl.DataFrame]) -> None:
        """Keep the cleaned rows (kept, rejected) of the part of ``source`` (safe to call from
        the reading threads)."""
        self.cleaned.setdefault(source.dest_table, {})[source.source_id] = cleaned

    def cleaned_table(self, table: str) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """The cleaned rows (kept, rejected) of the whole of ``table``, in :meth:`read_frame`'s
        order, when every part of it was read and cleaned by this run; else None. Cleaning
        is row by row, so the parts' results put end to end are the table's."""
        fresh = self.tables.get(table, {})
        cleaned = self.cleaned.get(table, {})
        if not fresh or set(cleaned) != set(fresh):
            return None
        on_disk = {Path(p).name[: -len(PARQUET_SUFFIX)] for p in self.lake.part_files(table)}
        if not on_disk <= set(fresh):
            return None
        names = sorted(fresh)
        return (
            pl.concat([cleaned[n][0] for n in names], how="vertical_relaxed"),
            pl.concat([cleaned[n][1] for n in names], how="diagonal_relaxed"),
        )

    def read_table(self, table: str) -> pa.Table:
        """:meth:`read_frame` as an Arrow table."""
        return self.read_frame(table).to_arrow()

    def wait(self) -> None:
        """Finish every write; record each written part's size in the state."""
        try:
            for key, future in self._pending:
                path = future.result()
                self.state.inputs[key]["part_size"] = self.lake.fs.get_file_info(path).size
        finally:
            self._pool.shutdown(wait=True)
            self._pending = []


def import_changed(
    sources: list[Source],
    lake: Lake,
    state: State,
    changes: Changes,
    read: Any,
    imported: ImportedParts | None = None,
    progress: Callable[..., None] | None = None,
) -> None:
    """Import the sources whose file changed (or whose part is missing); drop parts of files
    that are gone. ``read`` is :func:`datapipeline.jobs.read_source`. With ``imported``, parts
    are handed to it (kept in memory, written in the background: call its ``wait``)."""
    tables = sorted({s.dest_table for s in sources})
    sizes = {t: _part_sizes(lake, t) for t in tables}
    wanted: set[str] = set()
    # Hashing files is I/O and native code: two threads at once.
    with ThreadPoolExecutor(2) as pool:
        digests = list(pool.map(lambda s: file_digest(s.source), sources))
    changed: list[Source] = []
    for source, (size, digest) in zip(sources, digests, strict=True):
        key = f"{source.dest_table}/{source.source_id}"
        wanted.add(key)
        entry = state.inputs.get(key)
        part_size = sizes[source.dest_table].get(source.source_id)
        if (
            entry is not None
            and entry["path"] == source.source
            and entry["size"] == size
            and entry["sha256"] == digest
            and entry["source_type"] == source.source_type
            and entry["part_size"] == part_size
        ):
            changes.unchanged.append(key)
            continue
        changed.append(source)
        state.inputs[key] = {
            "path": source.source,
            "size": size,
            "sha256": digest,
            "source_type": source.source_type,
            "part_size": None,
        }
        state.matches.pop(key, None)
        changes.imported.append(key)
    # Files are read two at a time (the readers run in native code), the largest first: the
    # two threads then end together, not one reading the last large file alone. Each read
    # copies the caller's context so repairs noted by a reader are still collected.
    size_of = {s.source: size for s, (size, _) in zip(sources, digests, strict=True)}
    changed.sort(key=lambda s: -size_of[s.source])  # stable: ties keep their order
    context = contextvars.copy_context()
    with ThreadPoolExecutor(2) as pool:
        tables_read = pool.map(lambda s: context.copy().run(read, s), changed)
        for done, (source, data) in enumerate(zip(changed, tables_read, strict=True), 1):
            if progress is not None:
                progress("import", done, len(changed))
            key = f"{source.dest_table}/{source.source_id}"
            if imported is None:
                path = lake.write_part(source.dest_table, source.source_id, data)
                state.inputs[key]["part_size"] = lake.fs.get_file_info(path).size
            else:
                imported.add(source, data)
    for table in tables:
        for part in sizes[table]:
            key = f"{table}/{part}"
            if key not in wanted:
                lake.fs.delete_file(f"{lake.table_dir(table)}/{part}{PARQUET_SUFFIX}")
                changes.removed.append(key)
    for key in set(state.inputs) - wanted:
        state.inputs.pop(key)
        state.matches.pop(key, None)
        if key not in changes.removed:
            changes.removed.append(key)


class CachedMatcher:
    """A :data:`~datapipeline.mentions.graph.Matcher` that reuses the match results cached per
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

    def __call__(self, titles: pl.DataFrame, drugs: pl.DataFrame) -> pl.DataFrame:
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
            titles.select(
                pl.col("title", WORDS) if WORDS in titles.columns else "title"
            ).with_row_index("_title"),
            patterns.select(pl.col("pattern").alias("_pattern_id"), "pattern"),
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
            words = [WORDS] if WORDS in titles.columns else []
            pairs = pl.concat([pairs, _match(titles.select(SOURCE_ROW, "title", *words), added)])
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
            rows.select(SOURCE_ROW, "title", *([WORDS] if WORDS in rows.columns else [])),
            patterns.select(pl.col("pattern").alias("_pattern_id"), "pattern"),
            title_id=SOURCE_ROW,
            drug_id="_pattern_id",
        )
        .rename({"_pattern_id": "pattern"})
        .cast({SOURCE_ROW: pl.Int64})
    )
