"""Incremental runs: import only the input files that changed; the lake's record of them.

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
import json
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs

from datapipeline.config import Source
from datapipeline.lake import PARQUET_SUFFIX, Lake
from datapipeline.lake import STATE_DIR as LAKE_STATE_DIR
from datapipeline.mentions.recipe import Cleaned

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
        #: the clean step's result of parts cleaned as they were read, by table and part
        self.cleaned: dict[str, dict[str, Cleaned]] = {}
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

    def add_cleaned(self, source: Source, cleaned: Cleaned) -> None:
        """Keep the clean step's result for the part of ``source`` (safe to call from the
        reading threads)."""
        self.cleaned.setdefault(source.dest_table, {})[source.source_id] = cleaned

    def cleaned_table(self, table: str) -> Cleaned | None:
        """The clean step's result for the whole of ``table``, in :meth:`read_frame`'s order,
        when every part of it was read and cleaned by this run; else None. Cleaning is row by
        row, so the parts' results put end to end are the table's."""
        fresh = self.tables.get(table, {})
        cleaned = self.cleaned.get(table, {})
        if not fresh or set(cleaned) != set(fresh):
            return None
        on_disk = {Path(p).name[: -len(PARQUET_SUFFIX)] for p in self.lake.part_files(table)}
        if not on_disk <= set(fresh):
            return None
        return Cleaned.concat(cleaned[n] for n in sorted(fresh))

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
    that are gone. ``read`` is :func:`datapipeline.run.sources.read_source`. With
    ``imported``, parts are handed to it (kept in memory, written in the background: call its
    ``wait``)."""
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
