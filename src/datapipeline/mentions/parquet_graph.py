"""The graph as two Parquet tables, ``nodes`` and ``edges``, written beside graph.json.

Questions over a graph of millions of mentions read a few columns of these tables instead of
parsing graph.json (see :mod:`datapipeline.analysis`); the warehouse loads them like the lake's
tables. They hold what graph.json holds, row for row:

- nodes (:data:`NODE_SCHEMA`): ``id``, ``type``, ``name``, ``atccode``, ``source_id``,
  ``title``, ``date``, ``journal`` (null where a kind of node has no such field), and
  ``match_name``: a drug's name in the normal form matching compares (accents and case
  removed, see :func:`normalize_for_matching`), so that SQL finds a drug without restating
  that rule;
- edges (:data:`EDGE_SCHEMA`): ``source``, ``target``, ``key``, ``date``, and ``target_type``,
  the type of the target node (the prefix of its id), so that a question on journals or on
  PubMed articles reads the edges alone.

Dates are Parquet dates. The writer is fed the chunks the JSON renderer is fed
(:func:`render_node_link`), as they come: it cuts them into row groups of at most
:data:`ROW_GROUP_ROWS` rows, each of one type of node (nodes in graph.json's order) or of
edges to one type of node (graph.json's order within a type), converted and written on a
thread per table, so memory holds a few row groups and chunks, never the graph. Row groups
do not depend on how the rows were chunked: every engine writes the same bytes.

The tables are written by :func:`atomic_open` and renamed before graph.json is: their footer
records graph.json's :class:`JsonFingerprint`, so a reader tells tables that belong to the
graph.json beside them from tables a crash left behind with an older one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from datapipeline.atomic import atomic_open
from datapipeline.kernels.node_link import Chunk, EdgeCodes, render_node_link
from datapipeline.mentions.assembly import GraphTables, graph_chunks
from datapipeline.mentions.matching import normalize_for_matching

if TYPE_CHECKING:
    from datapipeline.lake import Lake

NODE_SCHEMA = pa.schema(
    [
        ("id", pa.large_string()),
        ("type", pa.large_string()),
        ("name", pa.large_string()),
        ("atccode", pa.large_string()),
        ("source_id", pa.large_string()),
        ("title", pa.large_string()),
        ("date", pa.date32()),
        ("journal", pa.large_string()),
        ("match_name", pa.large_string()),
    ]
)
EDGE_SCHEMA = pa.schema(
    [
        ("source", pa.large_string()),
        ("target", pa.large_string()),
        ("key", pa.date32()),
        ("date", pa.date32()),
        ("target_type", pa.large_string()),
    ]
)
#: The graph's lake tables (and warehouse tables): one part each, named :data:`LAKE_PART`.
LAKE_TABLES = {"nodes": "graph_nodes", "edges": "graph_edges"}
LAKE_PART = "graph"
#: Rows per row group (the last of a run of one node type is shorter).
ROW_GROUP_ROWS = 1 << 17
#: LZ4: half the bytes of uncompressed tables (mostly titles and ids) for a little CPU, on a
#: thread of their own, while the step that writes them waits for the disk.
COMPRESSION = "lz4"
#: Chunks converted or written ahead of the renderer, at most.
WRITES_AHEAD = 3
#: Footer key of graph.json's fingerprint.
FINGERPRINT_KEY = "datapipeline.graph_json"
#: Columns of few distinct values, dictionary-encoded; the others are written plain (ids and
#: titles are distinct: a dictionary would be tried and dropped).
_DICTIONARY = ["type", "atccode", "date", "journal", "source", "key", "target_type"]
#: Columns whose min/max let a reader skip row groups (a row group holds one type of node,
#: or edges to one type of node; nodes are sorted by id, edges by source within a type).
_STATISTICS = ["id", "type", "source", "target_type"]


def table_paths(graph_path: Path) -> dict[str, Path]:
    """Where the tables of ``graph_path`` go: ``<stem>_nodes.parquet`` and
    ``<stem>_edges.parquet`` beside it (``graph_nodes.parquet`` for ``graph.json``)."""
    return {
        kind: graph_path.with_name(f"{graph_path.stem}_{kind}.parquet")
        for kind in ("nodes", "edges")
    }


@dataclass
class JsonFingerprint:
    """Size and a checksum of sampled windows of graph.json: cheap to take from the pieces
    being written, and to check by reading a few windows of the file (a checksum of every
    byte would cost the reader the read of the whole file it wants to avoid)."""

    #: A window of this many bytes at every multiple of :data:`STRIDE`, and the file's last.
    WINDOW = 4096
    STRIDE = 64 * 1024 * 1024

    size: int = 0
    crc: int = 0
    _tail: bytes = b""

    def update(self, piece: bytes | memoryview) -> None:
        """Take in the next ``piece`` of the file."""
        view = memoryview(piece).cast("B")
        start, end = self.size, self.size + len(view)
        window = start - start % self.STRIDE
        while window < end:
            low, high = max(window, start), min(window + self.WINDOW, end)
            if low < high:
                self.crc = zlib.crc32(view[low - start : high - start], self.crc)
            window += self.STRIDE
        self._tail = (self._tail + bytes(view[-self.WINDOW :]))[-self.WINDOW :]
        self.size = end

    def value(self) -> str:
        """The fingerprint as text: size and checksum (the last window included)."""
        return f"{self.size}:{zlib.crc32(self._tail, self.crc):08x}"

    @classmethod
    def of_file(cls, path: Path) -> str:
        """The fingerprint of the file at ``path``, reading its windows only."""
        fingerprint = cls()
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            for window in range(0, size, cls.STRIDE):
                handle.seek(window)
                fingerprint.crc = zlib.crc32(handle.read(cls.WINDOW), fingerprint.crc)
            handle.seek(max(size - cls.WINDOW, 0))
            fingerprint._tail = handle.read(cls.WINDOW)
        fingerprint.size = size
        return fingerprint.value()


def node_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Nodes (any of the columns of :data:`NODE_SCHEMA`, dates as ``YYYY-MM-DD`` text) with
    every column of the table, in its order and types; ``match_name`` is computed."""
    columns = []
    for name in NODE_SCHEMA.names[:-1]:  # all but match_name
        if name not in frame.columns:
            dtype = pl.Date if name == "date" else pl.String
            columns.append(pl.lit(None, dtype=dtype).alias(name))
        else:
            columns.append(_date(name) if name == "date" else pl.col(name).cast(pl.String))
    return frame.select(columns).with_columns(match_name().alias("match_name"))


def match_name() -> pl.Expr:
    """The ``match_name`` of nodes (``type``, ``name``): a drug's name in the normal form of
    matching, null for other nodes."""
    return pl.when(pl.col("type") == "drug").then(normalize_for_matching(pl.col("name")))


def edge_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Edges (``source``, ``target``, ``key``, ``date``; dates as text) with ``target_type``."""
    return frame.select(
        pl.col("source").cast(pl.String),
        pl.col("target").cast(pl.String),
        _date("key"),
        _date("date"),
        target_type(pl.col("target")).alias("target_type"),
    )


def target_type(node_id: pl.Expr) -> pl.Expr:
    """The type of the node of id ``node_id``: the prefix of the id (``pubmed:6``: pubmed)."""
    return node_id.cast(pl.String).str.extract(r"^([^:]*):", 1)


def _date(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String).str.to_date("%Y-%m-%d", strict=True)


def _errno_of(error: OSError) -> int | None:
    """The system error code behind an Arrow I/O error (``[Errno 28] …`` in its text)."""
    found = re.search(r"\[Errno (\d+)\]", str(error))
    return int(found.group(1)) if found else None


class _TableFile:
    """One Parquet table being written: rows buffered into row groups of a fixed size, each
    of one value of ``group_by`` (so that its statistics let a reader skip the others).

    ``in_order``: rows come in runs of one value (nodes sorted by id come type after type)
    and keep their order, a run's last row group being shorter. Otherwise (edges, whose
    targets' types alternate) each value has its buffer, written when full, in the order the
    rows fill them, the partial ones last: the row groups do not depend on how rows came in
    chunks.
    """

    def __init__(self, path: Path, schema: pa.Schema, group_by: str, in_order: bool) -> None:
        self.path = path
        self.schema = schema
        self.group_by = group_by
        self.in_order = in_order
        #: the file, opened by :func:`atomic_open` (direct I/O) at the first row group
        self._file = contextlib.ExitStack()
        self._writer: pq.ParquetWriter | None = None
        self._closed = False
        #: rows waiting, per value of ``group_by`` (in the order values came)
        self._buffers: dict[object, list[pl.DataFrame]] = {}
        self._counts: dict[object, int] = {}
        self.rows = 0

    def add(self, rows: pl.DataFrame) -> None:
        """Add rows; whole row groups are written, the rest kept for the next rows."""
        if rows.is_empty():
            return
        values = rows.get_column(self.group_by)
        if self.in_order:
            changes = values.ne_missing(values.shift(1)).slice(1).arg_true() + 1
            start = 0
            for end in [*changes.to_list(), rows.height]:
                value = values[start]
                for other in [v for v in self._buffers if v != value]:
                    self._flush(other)
                self._append(value, rows.slice(start, end - start))
                start = end
            return
        # where each buffer reaches a whole row group, in row order
        fills: list[tuple[int, object]] = []
        for value in values.unique().sort(nulls_last=True).to_list():
            at = values.is_null() if value is None else values == value
            positions = at.arg_true()
            first = ROW_GROUP_ROWS - self._counts.get(value, 0)
            fills += [
                (int(positions[i - 1]), value)
                for i in range(first, positions.len() + 1, ROW_GROUP_ROWS)
            ]
        start = 0
        for position, value in sorted(fills, key=lambda fill: fill[0]):
            self._spread(rows.slice(start, position + 1 - start))
            self._flush(value)
            start = position + 1
        self._spread(rows.slice(start))

    def _spread(self, rows: pl.DataFrame) -> None:
        """Add ``rows`` to the buffers of their values (none of which fills)."""
        if rows.is_empty():
            return
        for key, part in rows.partition_by(
            self.group_by, as_dict=True, maintain_order=True
        ).items():
            self._append(key[0], part)

    def _append(self, value: object, rows: pl.DataFrame) -> None:
        self._buffers.setdefault(value, []).append(rows)
        count = self._counts.get(value, 0) + rows.height
        self._counts[value] = count
        if count < ROW_GROUP_ROWS:
            return
        buffered = pl.concat(self._buffers[value], rechunk=False)
        whole = count - count % ROW_GROUP_ROWS
        for start in range(0, whole, ROW_GROUP_ROWS):
            self._write(buffered.slice(start, ROW_GROUP_ROWS))
        rest = buffered.slice(whole)
        self._buffers[value] = [rest] if rest.height else []
        self._counts[value] = rest.height

    def _flush(self, value: object) -> None:
        if self._counts.get(value):
            self._write(pl.concat(self._buffers[value], rechunk=False))
        self._buffers.pop(value, None)
        self._counts.pop(value, None)

    def _flush_all(self) -> None:
        for value in sorted(self._buffers, key=lambda v: (v is None, str(v))):
            self._flush(value)

    def _write(self, group: pl.DataFrame) -> None:
        with self._named_errors():
            self._write_group(group)

    @contextlib.contextmanager
    def _named_errors(self) -> Iterator[None]:
        """Errors of the file name it: Arrow's writer drops the name (and may wrap the
        system error), and the outputs' error line names the file that failed."""
        try:
            yield
        except OSError as error:
            if error.filename:
                raise
            code = error.errno or _errno_of(error)
            reason = os.strerror(code) if code else str(error)
            raise OSError(code, reason, str(self.path)) from error

    def _write_group(self, group: pl.DataFrame) -> None:
        if self._writer is None:
            handle = self._file.enter_context(atomic_open(self.path, binary=True))
            self._writer = pq.ParquetWriter(
                handle,
                self.schema,
                compression=COMPRESSION,
                use_dictionary=[c for c in _DICTIONARY if c in self.schema.names],
                write_statistics=[c for c in _STATISTICS if c in self.schema.names],
                store_schema=False,
            )
        # One array per column: pages are cut the same way however the rows were chunked.
        table = group.to_arrow(compat_level=pl.CompatLevel.oldest()).combine_chunks()
        if table.schema != self.schema:
            table = table.cast(self.schema)
        self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self.rows += group.height

    def finish(self, metadata: dict[str, str]) -> None:
        """Write what is buffered and the footer (with ``metadata``)."""
        self._flush_all()
        if self._writer is None:  # no row: a file with the schema alone
            self._write(pl.from_arrow(self.schema.empty_table()))  # type: ignore[arg-type]
        assert self._writer is not None
        with self._named_errors():
            self._writer.add_key_value_metadata(metadata)
            self._closed = True
            self._writer.close()

    def commit(self) -> None:
        """Sync the finished file and rename it into place."""
        with self._named_errors():
            self._file.close()

    def abort(self) -> None:
        """Drop the temporary file (nothing to do after :meth:`commit`)."""
        if self._writer is not None and not self._closed:
            self._closed = True
            with contextlib.suppress(OSError, pa.ArrowException):
                self._writer.close()
        failed = RuntimeError("graph tables not committed")
        self._file.__exit__(RuntimeError, failed, None)


class ParquetGraphWriter:
    """Writes the Parquet tables of the graph whose JSON goes to ``graph_path``.

    Feed it the chunks the renderer gets, through :meth:`nodes` and :meth:`edges` (which
    hand each chunk on unchanged), and the JSON's pieces through :meth:`observe`; then
    :meth:`commit` (before graph.json is renamed into place). As a context manager it drops
    its temporary files when the block fails.
    """

    def __init__(self, graph_path: Path) -> None:
        self.paths = table_paths(graph_path)
        graph_path.parent.mkdir(parents=True, exist_ok=True)
        self.files = {
            "nodes": _TableFile(self.paths["nodes"], NODE_SCHEMA, "type", in_order=True),
            "edges": _TableFile(self.paths["edges"], EDGE_SCHEMA, "target_type", in_order=False),
        }
        self.fingerprint = JsonFingerprint()
        # a thread per table: the nodes' last row groups are written while edges come in
        self._pools = {
            k: ThreadPoolExecutor(1, thread_name_prefix=f"graph-{k}") for k in self.files
        }
        self._pending: dict[str, deque[Future[None]]] = {k: deque() for k in self.files}
        #: the last tables of coded edges seen: targets, their types, the dates parsed
        self._tables: tuple[pl.Series, pl.Series, pl.Series] | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        for file in self.files.values():
            file.abort()

    def nodes(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """``chunks`` (frames of nodes), each also added to the nodes table."""
        for chunk in chunks:
            self.add_nodes(chunk)
            yield chunk

    def edges(self, chunks: Iterable[Chunk]) -> Iterator[Chunk]:
        """``chunks`` (frames or :class:`EdgeCodes`), each also added to the edges table."""
        for chunk in chunks:
            self.add_edges(chunk)
            yield chunk

    def add_nodes(self, chunk: Chunk) -> None:
        """Add node rows (a frame whose rows are nodes, in graph.json's order)."""
        if isinstance(chunk, EdgeCodes):
            raise TypeError("nodes come as frames")
        self._submit("nodes", lambda: self.files["nodes"].add(node_rows(chunk)))

    def add_edges(self, chunk: Chunk) -> None:
        """Add edge rows, in graph.json's order."""
        if isinstance(chunk, EdgeCodes):
            for start in range(0, chunk.codes.height, ROW_GROUP_ROWS):
                part = chunk.with_codes(chunk.codes.slice(start, ROW_GROUP_ROWS))
                self._submit(
                    "edges", lambda part=part: self.files["edges"].add(self._coded_rows(part))
                )
        else:
            self._submit("edges", lambda: self.files["edges"].add(edge_rows(chunk)))

    def _coded_rows(self, edges: EdgeCodes) -> pl.DataFrame:
        """Rows of coded edges: the types of the targets and the dates are found once per
        table of them, then gathered."""
        if self._tables is None or self._tables[0] is not edges.targets:
            self._tables = (
                edges.targets,
                edges.targets.to_frame("target").select(target_type(pl.col("target"))).to_series(),
                edges.dates.to_frame("date").select(_date("date")).to_series(),
            )
        _, types, dates = self._tables
        codes = edges.codes
        date = dates.gather(codes.get_column("date"))
        return pl.DataFrame(
            {
                "source": edges.sources.gather(codes.get_column("source")),
                "target": edges.targets.gather(codes.get_column("target")),
                "key": date,
                "date": date,
                "target_type": types.gather(codes.get_column("target")),
            }
        )

    def _submit(self, kind: str, work: Any) -> None:
        pending = self._pending[kind]
        pending.append(self._pools[kind].submit(work))
        while len(pending) > WRITES_AHEAD:
            pending.popleft().result()

    def observe(self, piece: bytes | memoryview) -> None:
        """Take in the next piece of graph.json (for the fingerprint)."""
        self.fingerprint.update(piece)

    def commit(self) -> None:
        """Finish both tables and rename them into place."""
        for pending in self._pending.values():
            while pending:
                pending.popleft().result()
        metadata = {FINGERPRINT_KEY: json.dumps({"json": self.fingerprint.value()})}
        for file in self.files.values():
            file.finish(metadata)
        for file in self.files.values():
            file.commit()

    def copy_to_lake(self, lake: Lake) -> None:
        """Copy the committed tables into ``lake`` as :data:`LAKE_TABLES` (one part each)."""
        for kind, table in LAKE_TABLES.items():
            lake.put_file(table, LAKE_PART, self.paths[kind])


def save_graph_files(
    path: Path,
    nodes: Iterable[Chunk],
    edges: Iterable[Chunk],
    lake: Lake | None = None,
) -> None:
    """Write graph.json at ``path`` and its Parquet tables beside it, in one pass over the
    chunks, each file atomically (the tables first: see :class:`ParquetGraphWriter`); then
    copy the tables into ``lake`` when one is given."""
    with ParquetGraphWriter(path) as tables, atomic_open(path, binary=True) as handle:
        for piece in render_node_link(tables.nodes(nodes), tables.edges(edges)):
            handle.write(piece)
            tables.observe(piece)
        tables.commit()
    if lake is not None:
        tables.copy_to_lake(lake)


def save_graph_tables(graph: GraphTables, path: Path, lake: Lake | None = None) -> None:
    """:func:`save_graph_files` of an in-memory graph (the local engine's)."""
    save_graph_files(path, *graph_chunks(graph), lake=lake)
