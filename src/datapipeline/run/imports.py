"""The import step of a run: the data folder's files into the lake, only those that changed.

Each source is known by its key (a file's absolute path; see :mod:`datapipeline.lake.parts`).
A file is unchanged when its size and modification time are those its part's footer records,
or, when they are not, when its SHA-256 is: then nothing is read. New and changed files are
read two at a time, the largest first, and their rows packed into parts of about
:data:`PACK_ROWS` rows: many small files share a part, a large file is cut into several. The
rows of changed and removed files leave the lake: a part holding some of them is written
again without them. Small parts left by earlier runs are packed together once there are
enough of them. New parts are written first and old ones deleted last, and every part's footer
carries the run's generation: after a crash, the newest copy of a source is the one read.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import polars as pl
import pyarrow as pa

from datapipeline.config import Source
from datapipeline.errors import BadFileError
from datapipeline.extract.canonical import TEXT
from datapipeline.extract.database import DATABASE_TYPES
from datapipeline.lake import PARQUET_SUFFIX, Lake
from datapipeline.lake.parts import Manifest, PartEntry, SourceEntry
from datapipeline.repairs import Repair
from datapipeline.repairs import collect as collect_repairs
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

log = logging.getLogger(__name__)

#: Rows of a part a run writes (a large file is cut into parts of this size, processed apart).
PACK_ROWS = 250_000
#: Sources of a part at most (each is named in the part's footer).
PACK_SOURCES = 10_000
#: Parts under this many rows and :data:`SMALL_PART_SOURCES` sources are packed together
#: again once a table has more than :data:`SMALL_PARTS` of them (each daily run of a few new
#: files leaves one). A part full of sources is not small, however few its rows: packing it
#: again would give the same part, on every run.
SMALL_PART_ROWS = PACK_ROWS // 8
SMALL_PART_SOURCES = PACK_SOURCES // 8
SMALL_PARTS = 8


def source_key(source: Source) -> str:
    """The key of a source: a file's absolute path (or its URL), ``db:<id>`` for a table."""
    if source.source_type in DATABASE_TYPES:
        return f"db:{source.source_id}"
    location = source.source
    if "://" in location and not location.startswith("file://"):
        return location
    return os.path.abspath(location.removeprefix("file://"))


def file_digest(path: str, chunk: int = 1 << 20) -> str:
    """The SHA-256 (hex) of a local file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, order=True)
class RejectedFile:
    """An input file refused whole (``--on-bad-file skip``): its table, path and why."""

    table: str
    file: str
    reason: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The file as the run report lists it."""
        return {"table": self.table, "file": self.file, "reason": self.reason}


@dataclass
class Changes:
    """What an incremental run did: files imported, kept, removed; titles matched afresh."""

    imported: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    full_refresh: bool = False
    #: titles matched against every pattern (no usable cache), per part
    matched_titles: dict[str, int] = field(default_factory=dict)
    #: (titles, patterns) matched because the drug list gained patterns, per part
    rematched: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: files refused whole and skipped (``--on-bad-file skip``)
    rejected_files: list[RejectedFile] = field(default_factory=list)

    def summary(self) -> str:
        """One line for the console."""
        mode = "full refresh" if self.full_refresh else "incremental"
        matched = sum(self.matched_titles.values())
        return (
            f"{mode}: {len(self.imported)} files imported, {len(self.unchanged)} unchanged, "
            f"{len(self.removed)} removed; {matched} titles matched"
            + (f", {len(self.rematched)} parts matched for new drugs" if self.rematched else "")
        )


@dataclass
class ImportPlan:
    """What the import step does: which files it reads, which sources leave the lake."""

    #: new or changed sources, to read
    read: list[Source]
    #: (table, key) of the sources whose rows leave the lake (changed or removed)
    drop: set[tuple[str, str]]
    #: sources whose file only got a new modification time: (table, key) → that time
    restamp: dict[tuple[str, str], int]


def plan_import(
    sources: list[Source], manifest: Manifest, changes: Changes, *, full_refresh: bool = False
) -> ImportPlan:
    """Compare the data folder's files with what the lake holds (``manifest``)."""
    tables = sorted({s.dest_table for s in sources})
    held = {t: manifest.by_key(t) for t in tables}
    wanted: set[tuple[str, str]] = set()
    plan = ImportPlan(read=[], drop=set(), restamp={})
    for source in sources:
        key = source_key(source)
        place = (source.dest_table, key)
        wanted.add(place)
        found = held[source.dest_table].get(key, [])
        stat = os.stat(source.source)
        if not full_refresh and found and _unchanged(source, found, stat, plan, place):
            changes.unchanged.append(source.source)
            continue
        if found:
            plan.drop.add(place)
        plan.read.append(source)
        changes.imported.append(source.source)
    for table in tables:
        for key, found in held[table].items():
            if (table, key) not in wanted:
                plan.drop.add((table, key))
                changes.removed.append(found[0].entry.source)
    return plan


def _unchanged(
    source: Source,
    found: list[PartEntry],
    stat: os.stat_result,
    plan: ImportPlan,
    place: tuple[str, str],
) -> bool:
    entry = found[0].entry
    if entry.source != source.source or entry.source_type != source.source_type:
        return False  # another spelling (its rows' provenance) or another reader
    if (entry.size, entry.mtime_ns) == (stat.st_size, stat.st_mtime_ns):
        return True
    if entry.size == stat.st_size and entry.sha256 == file_digest(source.source):
        plan.restamp[place] = stat.st_mtime_ns  # touched, not changed
        return True
    return False


@dataclass(frozen=True)
class Pack:
    """One part a run writes: its table, name, rows and the sources they are."""

    table: str
    name: str
    data: pa.Table
    entries: tuple[SourceEntry, ...]


class Packer:
    """Sources' rows cut and gathered into parts of about :data:`PACK_ROWS` rows."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self._open: dict[str, tuple[list[pa.Table], list[SourceEntry], int]] = {}
        self._count = 0

    def add(self, table: str, entry: SourceEntry, data: pa.Table) -> Iterator[Pack]:
        """Add one source's rows (``entry``: its part-independent fields); yield the parts
        that are full."""
        for start in range(0, max(data.num_rows, 1), PACK_ROWS):
            piece = data.slice(start, PACK_ROWS)
            tables, entries, rows = self._open.get(table, ([], [], 0))
            if rows and (rows + piece.num_rows > PACK_ROWS or len(entries) >= PACK_SOURCES):
                yield self._close(table)
                tables, entries, rows = [], [], 0
            tables.append(piece)
            entries.append(replace(entry, offset=rows, rows=piece.num_rows))
            self._open[table] = (tables, entries, rows + piece.num_rows)

    def flush(self) -> Iterator[Pack]:
        """The parts still open."""
        for table in sorted(self._open):
            yield self._close(table)

    def _close(self, table: str) -> Pack:
        tables, entries, _ = self._open.pop(table)
        self._count += 1
        name = f"run-{self.generation:x}-{self._count:05d}"
        data = pa.concat_tables([_as_text(t) for t in tables]) if tables else pa.table({})
        return Pack(table, name, data, tuple(entries))


def _as_text(data: pa.Table) -> pa.Table:
    """``data`` with its string columns in the canonical text layout: rows read back from a
    part (plain strings) go into one part with rows just read (string views)."""
    strings = (pa.string(), pa.large_string())
    schema = pa.schema(
        [f.with_type(TEXT) if f.type in strings else f for f in data.schema],
        metadata=data.schema.metadata,
    )
    return data if schema == data.schema else data.cast(schema)


def kept_rows(data: pa.Table, entries: list[SourceEntry]) -> tuple[pa.Table, list[SourceEntry]]:
    """The rows of ``entries`` in a part's ``data`` (some of its sources), entries re-offset,
    in the text layout of the parts a run writes."""
    # cast once: the cast of each source's slice would copy the whole column's characters
    data = _as_text(data)
    pieces = [data.slice(e.offset, e.rows) for e in entries]
    moved, offset = [], 0
    for e in entries:
        moved.append(replace(e, offset=offset))
        offset += e.rows
    if not pieces:
        return data.slice(0, 0), []
    return pa.concat_tables(pieces), moved


Read = Callable[[Source], pa.Table]


def import_changed(
    sources: list[Source],
    lake: Lake,
    changes: Changes,
    read: Read,
    on_part: Callable[[Pack], None],
    progress: Callable[..., None] | None = None,
    *,
    full_refresh: bool = False,
    skip_bad_files: bool = False,
) -> Manifest:
    """Import the sources whose file changed or is new; take the rows of changed and removed
    ones out of the lake; return the lake's manifest after the step. ``on_part`` is given
    every part written (its rows still in memory: a caller may process them meanwhile).
    ``skip_bad_files``: a file its reader refuses whole (:class:`BadFileError`) is listed in
    ``changes.rejected_files`` and left out, instead of stopping the run."""
    for table in sorted({s.dest_table for s in sources}):
        lake.remove_leftovers(table)
    manifest = lake.manifest()
    plan = plan_import(sources, manifest, changes, full_refresh=full_refresh)
    generation = time.time_ns()
    packer = Packer(generation)
    writes: list[Future[str]] = []
    retired: list[tuple[str, str]] = []
    with ThreadPoolExecutor(1, thread_name_prefix="lake-writer") as writer:

        def publish(pack: Pack) -> None:
            entries = [replace(e, generation=generation) for e in pack.entries]
            writes.append(writer.submit(lake.write_part, pack.table, pack.name, pack.data, entries))
            manifest.parts[(pack.table, pack.name)] = (-1, -1, entries)  # stamped below
            on_part(Pack(pack.table, pack.name, pack.data, tuple(entries)))

        # the rows of other sources, in parts that lose some, go into new parts
        for (table, part), kept in _parts_to_rewrite(manifest, plan).items():
            data = lake.read_part_table(lake.part_path(table, part))
            rows, entries = kept_rows(data, kept)
            for entry in entries:
                for pack in packer.add(table, entry, rows.slice(entry.offset, entry.rows)):
                    publish(pack)
            retired.append((table, part))
        for place, mtime in plan.restamp.items():
            _restamp(manifest, place, mtime)
        for source, got in _read_all(plan.read, read, progress):
            if isinstance(got, BadFileError):
                if not skip_bad_files:
                    raise got
                log.warning("%s: skipped (%s)", source.source, got.detail)
                changes.rejected_files.append(
                    RejectedFile(source.dest_table, source.source, got.reason, str(got))
                )
                continue
            data, entry = got
            for pack in packer.add(source.dest_table, entry, data):
                publish(pack)
        for pack in packer.flush():
            publish(pack)
        paths = [w.result() for w in writes]
    for path in paths:
        table, name = path.rsplit("/", 2)[-2], path.rsplit("/", 1)[-1][: -len(PARQUET_SUFFIX)]
        info = lake.fs.get_file_info(path)
        written = manifest.parts[(table, name)][2]
        manifest.parts[(table, name)] = (info.size or 0, info.mtime_ns or 0, written)
    for table, part in retired:  # last: a crash before leaves two copies, the newest read
        lake.delete_part(table, part)
        manifest.parts.pop((table, part), None)
    lake.save_manifest(manifest)
    return manifest


def _parts_to_rewrite(
    manifest: Manifest, plan: ImportPlan
) -> dict[tuple[str, str], list[SourceEntry]]:
    """The parts holding rows that leave the lake, or small enough to be packed again: for
    each, the entries whose rows stay."""
    rewrite: dict[tuple[str, str], list[SourceEntry]] = {}
    tables = {t for t, _ in plan.drop} | {s.dest_table for s in plan.read}
    for (table, part), (_, _, entries) in sorted(manifest.parts.items()):
        if table in tables and entries and any((table, e.key) in plan.drop for e in entries):
            rewrite[(table, part)] = [e for e in entries if (table, e.key) not in plan.drop]
    for table in sorted(tables):
        small = [
            place
            for place, (_, _, entries) in sorted(manifest.parts.items())
            if place[0] == table
            and entries
            and place not in rewrite
            and sum(e.rows for e in entries) < SMALL_PART_ROWS
            and len(entries) < SMALL_PART_SOURCES
        ]
        if len(small) > SMALL_PARTS:
            for place in small:
                rewrite[place] = list(manifest.parts[place][2] or [])
    return rewrite


def _restamp(manifest: Manifest, place: tuple[str, str], mtime_ns: int) -> None:
    table, key = place
    for part_place, (size, mtime, entries) in manifest.parts.items():
        if part_place[0] == table and entries and any(e.key == key for e in entries):
            entries = [replace(e, mtime_ns=mtime_ns) if e.key == key else e for e in entries]
            manifest.parts[part_place] = (size, mtime, entries)


def _read_all(
    sources: list[Source], read: Read, progress: Callable[..., None] | None
) -> Iterator[tuple[Source, tuple[pa.Table, SourceEntry] | BadFileError]]:
    """Read ``sources`` two at a time, the largest first (the two threads then end
    together); yield each with its rows and its entry (or the reason its reader refused it
    whole), in the order they were started."""

    def read_one(source: Source) -> tuple[pa.Table, SourceEntry] | BadFileError:
        stat = os.stat(source.source)
        sha256 = file_digest(source.source)
        with collect_repairs() as repairs:
            try:
                data = read(source)
            except BadFileError as exc:
                return exc
        entry = SourceEntry(
            key=source_key(source),
            source=source.source,
            source_type=source.source_type,
            offset=0,
            rows=data.num_rows,
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            sha256=sha256,
            repairs=tuple(sorted({r.repair for r in repairs})),
        )
        return data, entry

    ordered = sorted(sources, key=lambda s: -os.stat(s.source).st_size)  # stable on ties
    context = contextvars.copy_context()
    with ThreadPoolExecutor(2, thread_name_prefix="read") as pool:
        results = pool.map(lambda s: context.copy().run(read_one, s), ordered)
        for done, (source, got) in enumerate(zip(ordered, results, strict=True), 1):
            if progress is not None:
                progress("import", done, len(ordered))
            yield source, got


def repairs_of(manifest: Manifest, tables: list[str]) -> list[Repair]:
    """The repairs the readers made of the sources of ``tables`` (read in any run)."""
    return sorted(
        {
            Repair(entry.source, repair)
            for table in tables
            for _, entries in manifest.live(table)
            for entry in entries or []
            for repair in entry.repairs
        }
    )


def retire_elsewhere(lake: Lake, table: str, key: str, keep: str) -> None:
    """Take the rows of source ``key`` out of every part of ``table`` but ``keep`` (where it
    was just written)."""
    remove_sources(lake, table, {key}, keep=keep)


def remove_sources(lake: Lake, table: str, keys: set[str], keep: str | None = None) -> int:
    """Take the rows of the sources ``keys`` out of ``table`` (out of every part but
    ``keep``): a part holding other sources too is written again without them, under a new
    name, before it is deleted. Returns the rows removed."""
    manifest = lake.manifest()
    generation = time.time_ns()
    removed = 0
    for (name, part), (_, _, entries) in sorted(manifest.parts.items()):
        if name != table or part == keep or not entries:
            continue
        gone = [e for e in entries if e.key in keys]
        if not gone:
            continue
        others = [e for e in entries if e.key not in keys]
        if others:
            data = lake.read_part_table(lake.part_path(table, part))
            rows, moved = kept_rows(data, others)
            moved = [replace(e, generation=generation) for e in moved]
            lake.write_part(table, f"run-{generation:x}-{part[-5:]}", rows, moved)
        lake.delete_part(table, part)
        removed += sum(e.rows for e in gone)
    return removed


def source_key_of(given: str, held: dict[str, str]) -> str | None:
    """The key of the source a user names ``given`` among ``held`` (key → source as
    imported): its key itself, its spelling as imported, or its file's path from here."""
    if given in held:
        return given
    for key, source in held.items():
        if source == given:
            return key
    path = os.path.abspath(given)
    return path if path in held else None


def rejected_file_rows(files: list[RejectedFile]) -> pl.DataFrame:
    """Files refused whole as lines of ``rejected_rows.jsonl``: no row number; the record
    says why."""
    return pl.DataFrame(
        {
            "table": [f.table for f in files],
            SOURCE_FILE: [f.file for f in files],
            SOURCE_ROW: pl.Series([None] * len(files), dtype=pl.Int64),
            "reason": [f.reason for f in files],
            "record": [json.dumps({"error": f.message}, ensure_ascii=False) for f in files],
        },
        schema={
            "table": pl.String,
            SOURCE_FILE: pl.String,
            SOURCE_ROW: pl.Int64,
            "reason": pl.String,
            "record": pl.String,
        },
    )
