"""What a lake part holds: the sources whose rows it stores, named in the part itself.

A part is one Parquet file of a table. It holds the rows of one or more sources, each source's
rows one after the other, and names them in its footer (key-value metadata
``datapipeline.sources``): for each source its key, its rows' place in the part, and what the
source was when it was read (file size, modification time, SHA-256, the repairs its reader
made). The footers are the truth about a lake's content; :class:`Manifest` is a compact copy of
them all (one Parquet table), kept so that a run does not read every footer.

A source's **key** names it in every command: the absolute path of a file or its URL
(``gs://…``), or ``db:<source_id>`` for a database table. Importing a source again, from
``run``, ``import`` or a DAG, replaces the rows of its key, wherever they are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

#: The footer key of a part's sources.
FOOTER_KEY = "datapipeline.sources"


def single_source_part(key: str) -> str:
    """The name of the part holding one source alone (``datapipeline import``): a hash of its
    key, so that two sources never share a part and a re-import replaces the same file."""
    return "src-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class SourceEntry:
    """One source in one part of a table."""

    key: str
    #: the source as it was given (a path as typed, a URL): the rows' ``_source_file``
    source: str
    source_type: str
    #: the part's rows ``offset`` … ``offset + rows - 1`` are this source's
    offset: int
    rows: int
    #: what the input file was when it was read (None for a database table)
    size: int | None = None
    mtime_ns: int | None = None
    sha256: str | None = None
    #: repairs the reader made (``datapipeline.repairs`` ids)
    repairs: tuple[str, ...] = field(default_factory=tuple)
    #: when the part was written (ns): of two copies of a source, the newer is the source
    generation: int = 0

    def to_json(self) -> dict[str, object]:
        """The entry as written in a footer."""
        data = dict(self.__dict__)
        data["repairs"] = list(self.repairs)
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SourceEntry:
        """An entry read from a footer."""
        values = dict(data)
        values["repairs"] = tuple(values.get("repairs") or ())  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]


def footer(entries: Sequence[SourceEntry]) -> dict[str, str]:
    """The key-value metadata naming ``entries`` in a part's footer."""
    return {FOOTER_KEY: json.dumps([e.to_json() for e in entries], ensure_ascii=False)}


def entries_of_footer(metadata: dict[bytes, bytes] | None) -> list[SourceEntry] | None:
    """The entries a part's footer names; None when it names none (a part written by another
    tool, or by a version of this one before parts named their sources)."""
    raw = (metadata or {}).get(FOOTER_KEY.encode())
    if raw is None:
        return None
    try:
        return [SourceEntry.from_json(e) for e in json.loads(raw.decode("utf-8"))]
    except (ValueError, TypeError, KeyError):
        return None


@dataclass(frozen=True)
class PartEntry:
    """A source in the lake: which table and part, and the entry its part's footer holds."""

    table: str
    part: str
    entry: SourceEntry


#: The manifest's columns, with their types.
MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "table": pl.String(),
    "part": pl.String(),
    "part_size": pl.Int64(),
    "part_mtime_ns": pl.Int64(),
    "key": pl.String(),
    "source": pl.String(),
    "source_type": pl.String(),
    "offset": pl.Int64(),
    "rows": pl.Int64(),
    "size": pl.Int64(),
    "mtime_ns": pl.Int64(),
    "sha256": pl.String(),
    "repairs": pl.List(pl.String()),
    "generation": pl.Int64(),
}


@dataclass
class Manifest:
    """The sources of every part of a lake, with each part's size and modification time (a
    part that changed is read again): a copy of the parts' footers."""

    #: (table, part) → (part size, part mtime_ns, its entries; None: a part naming no source)
    parts: dict[tuple[str, str], tuple[int, int, list[SourceEntry] | None]] = field(
        default_factory=dict
    )

    def sources(self, table: str) -> list[PartEntry]:
        """The sources of ``table``, part by part, in part-name order."""
        found = []
        for (name, part), (_, _, entries) in sorted(self.parts.items()):
            if name == table and entries:
                found += [PartEntry(table, part, e) for e in entries]
        return found

    def by_key(self, table: str) -> dict[str, list[PartEntry]]:
        """The sources of ``table`` by key (a source may span several parts)."""
        keys: dict[str, list[PartEntry]] = {}
        for found in self.sources(table):
            keys.setdefault(found.entry.key, []).append(found)
        return keys

    def live(self, table: str) -> list[tuple[str, list[SourceEntry] | None]]:
        """The parts of ``table`` in part-name order, each with the entries whose rows are
        read: all of them, but for a source found in parts of several generations (a run
        killed between writing a source's new part and deleting its old one), the newest
        copy only. None: a part naming no source, read whole."""
        newest: dict[str, int] = {}
        for (name, _), (_, _, entries) in self.parts.items():
            if name != table:
                continue
            for e in entries or []:
                newest[e.key] = max(newest.get(e.key, e.generation), e.generation)
        live: list[tuple[str, list[SourceEntry] | None]] = []
        for (name, part), (_, _, entries) in sorted(self.parts.items()):
            if name != table:
                continue
            if entries is None:
                live.append((part, None))
            else:
                live.append((part, [e for e in entries if e.generation == newest[e.key]]))
        return live

    def to_frame(self) -> pl.DataFrame:
        """The manifest as one table (parts naming no source: one row with a null key)."""
        columns: dict[str, list[object]] = {name: [] for name in MANIFEST_SCHEMA}
        for (table, part), (size, mtime, entries) in sorted(self.parts.items()):
            listed: list[SourceEntry | None] = list(entries) if entries else [None]
            for e in listed:
                columns["table"].append(table)
                columns["part"].append(part)
                columns["part_size"].append(size)
                columns["part_mtime_ns"].append(mtime)
                values = {} if e is None else e.to_json()
                for name in _ENTRY_FIELDS:
                    columns[name].append(values.get(name))
        return pl.DataFrame(columns, schema=MANIFEST_SCHEMA)

    @classmethod
    def from_frame(cls, frame: pl.DataFrame) -> Manifest:
        """The inverse of :meth:`to_frame`."""
        manifest = cls()
        for (table, part), rows in frame.group_by("table", "part", maintain_order=True):
            first = rows.row(0, named=True)
            entries = None
            if first["key"] is not None:
                entries = [
                    SourceEntry.from_json({f: row[f] for f in _ENTRY_FIELDS})
                    for row in rows.iter_rows(named=True)
                ]
            manifest.parts[(str(table), str(part))] = (
                first["part_size"],
                first["part_mtime_ns"],
                entries,
            )
        return manifest


_ENTRY_FIELDS = [
    f for f in MANIFEST_SCHEMA if f not in ("table", "part", "part_size", "part_mtime_ns")
]
