"""Fast path: node-link JSON written from Polars frames in native code, on threads.

The interface is :func:`render_node_link` (chunks of rows in, pieces of bytes out) and
:class:`EdgeCodes` (edges as positions in tables of strings, the form written fastest). Rows
are encoded by Polars' JSON encoder (``struct.json_encode``: the bytes of its NDJSON writer)
and laid end to end by one gather, never a Python loop over rows; chunks are encoded on
:data:`ENCODE_THREADS` threads while earlier pieces are written. The rule it implements is
plain: ``json.dumps`` of each row with compact separators, rows sorted by the caller
(tested against it: ``tests/kernels/test_node_link.py``).
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import polars as pl

GRAPH_ATTRIBUTES = '{"name":"drug_mentions","schema_version":1}'
#: What comes before the nodes, between the nodes and the edges, and after the edges; each
#: node and edge is one line, followed by ``,\n`` but for the last of its array.
HEAD = b'{"directed":true,"multigraph":true,"graph":' + GRAPH_ATTRIBUTES.encode() + b',"nodes":[\n'
MIDDLE = b'\n],"edges":[\n'
TAIL = b"\n]}\n"


@dataclass(frozen=True)
class EdgeCodes:
    """Edges as positions in tables of strings: the form the renderer writes fastest.

    Row i of ``codes`` (``source``, ``target``, ``date``: unsigned integers) is the edge from
    ``sources[source]`` to ``targets[target]``, keyed and labelled ``dates[date]`` (strings;
    a null date is written null). Rows are written in the order given: the caller sorts them.
    """

    codes: pl.DataFrame
    sources: pl.Series
    targets: pl.Series
    dates: pl.Series
    _pieces: _Once[_EdgePieces] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        make = functools.partial(_edge_pieces, self.sources, self.targets, self.dates)
        object.__setattr__(self, "_pieces", _Once(make))

    def with_codes(self, codes: pl.DataFrame) -> EdgeCodes:
        """Other edges over the same tables, e.g. one bucket of sources at a time: the JSON of
        the tables is made once for them all."""
        other = EdgeCodes(codes, self.sources, self.targets, self.dates)
        object.__setattr__(other, "_pieces", self._pieces)
        return other

    @classmethod
    def of_frame(cls, edges: pl.DataFrame) -> EdgeCodes:
        """``edges`` (``source``, ``target``, ``date`` strings; ``key`` is the date) coded, in
        their order."""
        tables = {
            c: edges.get_column(c).unique().sort(nulls_last=False)
            for c in ("source", "target", "date")
        }
        codes = edges.select(
            pl.col(c)
            .replace_strict(table, pl.int_range(table.len(), dtype=pl.UInt32, eager=True))
            .alias(c)
            for c, table in tables.items()
        )
        return cls(codes, tables["source"], tables["target"], tables["date"])

    @property
    def height(self) -> int:
        """How many edges."""
        return self.codes.height

    def frame(self) -> pl.DataFrame:
        """The edges as strings: ``source``, ``target``, ``key``, ``date``."""
        date = self.dates.gather(self.codes.get_column("date"))
        return pl.DataFrame(
            {
                "source": self.sources.gather(self.codes.get_column("source")),
                "target": self.targets.gather(self.codes.get_column("target")),
                "key": date,
                "date": date,
            }
        )


#: A string JSON writes escaped: a quote, a backslash or a control character.
_NEEDS_ESCAPE = r'[\x00-\x1f"\\]'


def _json_values(values: pl.Series) -> pl.Series:
    """Each value as JSON text (``null`` for null), as Polars' JSON encoder writes it."""
    encoded = values.to_frame("v").select(pl.struct("v").struct.json_encode()).to_series()
    return encoded.str.strip_prefix('{"v":').str.strip_suffix("}")


#: The pieces of edge lines, end to end, and where the target and date pieces start.
_EdgePieces = tuple[pl.Series, int, int]


def _edge_pieces(sources: pl.Series, targets: pl.Series, dates: pl.Series) -> _EdgePieces:
    """The pieces an edge line is made of, one table after the other: for each source
    ``{"source":"<source>","target":"``, each target as is, for each date
    ``","key":"<date>","date":"<date>"},\\n``; and the offsets of the target and date tables.

    Targets are ids: none needs escaping as a rule, and they are used as they are, so that a
    line is three pieces and no target string is copied. Otherwise each target is its JSON
    text and the quotes move into it.
    """
    plain = targets.null_count() == 0 and not targets.str.contains(_NEEDS_ESCAPE).any()
    quote = '"' if plain else ""
    source_pieces = (
        _json_values(sources)
        .to_frame("v")
        .select(pl.concat_str(pl.lit('{"source":'), "v", pl.lit(',"target":' + quote)))
        .to_series()
    )
    target_pieces = targets if plain else _json_values(targets)
    date_pieces = (
        _json_values(dates)
        .to_frame("v")
        .select(
            pl.concat_str(pl.lit(quote + ',"key":'), "v", pl.lit(',"date":'), "v", pl.lit("},\n"))
        )
        .to_series()
    )
    pieces = pl.concat([source_pieces, target_pieces.cast(pl.String), date_pieces]).rechunk()
    return pieces, source_pieces.len(), source_pieces.len() + target_pieces.len()


def _text_bytes(text: pl.Series) -> memoryview:
    """The strings of ``text`` end to end, as one buffer (one copy, in native code)."""
    array = text.to_arrow(compat_level=pl.CompatLevel.oldest())
    if len(array) == 0:
        return memoryview(b"")
    _, offset_buffer, data = array.buffers()  # large_string: 64-bit offsets
    offsets = memoryview(offset_buffer).cast("q")
    return memoryview(data)[offsets[array.offset] : offsets[array.offset + len(array)]]


def _coded_lines(pieces: _Once[_EdgePieces], codes: pl.DataFrame) -> memoryview:
    """The edges of ``codes`` as JSON objects, each followed by ``,\\n``."""
    table, target_offset, date_offset = pieces.get()
    index = codes.select(
        pl.concat_arr(
            pl.col("source").cast(pl.UInt32),
            pl.col("target").cast(pl.UInt32) + target_offset,
            pl.col("date").cast(pl.UInt32) + date_offset,
        ).reshape((-1,))
    ).to_series()
    return _gathered_bytes(table, index)


def _json_lines(frame: pl.DataFrame) -> memoryview:
    """The rows of ``frame`` as JSON objects, each followed by ``,\\n``.

    Each row is encoded in native code (``struct.json_encode``, the same bytes as Polars'
    NDJSON writer); the lines and separators are laid end to end by one gather of them all,
    copied once.
    """
    if frame.is_empty():
        return memoryview(b"")
    lines = frame.select(pl.struct(pl.all()).struct.json_encode()).to_series()
    table = pl.concat([lines, pl.Series([",\n"])], rechunk=True)
    index = pl.concat_arr(
        pl.int_range(frame.height, dtype=pl.UInt32), pl.lit(frame.height, dtype=pl.UInt32)
    )
    return _gathered_bytes(table, pl.select(index.reshape((-1,))).to_series())


def _gathered_bytes(table: pl.Series, index: pl.Series) -> memoryview:
    """The strings ``table[index]`` end to end."""
    # (A frame's operations run without the GIL; some Series methods hold it.)
    return _text_bytes(table.to_frame().select(pl.first().gather(index)).to_series())


_T = TypeVar("_T")


class _Once(Generic[_T]):
    """A value computed by the first thread that needs it; the others wait for it."""

    def __init__(self, make: Callable[[], _T]) -> None:
        self.__setstate__(make)

    def __getstate__(self) -> Callable[[], _T]:
        return self._make  # (a lock cannot be sent: an engine may send the graph to a worker)

    def __setstate__(self, make: Callable[[], _T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._value: _T | None = None

    def get(self) -> _T:
        with self._lock:
            if self._value is None:
                self._value = self._make()
            return self._value


#: Rows per piece of work when encoding graph.json on threads.
ENCODE_CHUNK = 100_000


#: Threads that encode, and pieces encoded ahead of the one being written.
ENCODE_THREADS = 2


ENCODE_AHEAD = 4


#: A chunk of nodes or edges: a frame (each row one JSON object, its columns the members) or,
#: for edges, :class:`EdgeCodes`.
Chunk = pl.DataFrame | EdgeCodes


def _work(chunks: Iterable[Chunk]) -> Iterator[Callable[[], memoryview]]:
    """Functions that encode ``chunks`` in pieces of at most :data:`ENCODE_CHUNK` rows."""
    for chunk in chunks:
        if isinstance(chunk, EdgeCodes):
            codes = chunk.codes
            for start in range(0, codes.height, ENCODE_CHUNK):
                part = codes.slice(start, ENCODE_CHUNK)
                yield functools.partial(_coded_lines, chunk._pieces, part)
        else:
            for start in range(0, chunk.height, ENCODE_CHUNK):
                yield functools.partial(_json_lines, chunk.slice(start, ENCODE_CHUNK))


def _in_order(
    pool: ThreadPoolExecutor, items: Iterable[bytes | Callable[[], memoryview]]
) -> Iterator[bytes | memoryview]:
    """Literal pieces as they are and functions' results, in order; at most
    :data:`ENCODE_AHEAD` functions run or wait ahead of the piece handed on."""
    pending: deque[bytes | Future[memoryview]] = deque()
    running = 0
    try:
        for item in items:
            if isinstance(item, bytes):
                pending.append(item)
                continue
            pending.append(pool.submit(item))
            running += 1
            while running > ENCODE_AHEAD:
                head = pending.popleft()
                if isinstance(head, Future):
                    running -= 1
                    yield head.result()
                else:
                    yield head
        while pending:
            head = pending.popleft()
            yield head.result() if isinstance(head, Future) else head
    finally:
        for head in pending:
            if isinstance(head, Future):
                head.cancel()


def _json_arrays(pieces: Iterator[bytes | memoryview]) -> Iterator[bytes | memoryview]:
    """``pieces`` with empty encoded pieces dropped and the ``,\\n`` after the last record of
    each array (the encoded piece before a literal one) cut off."""
    held: memoryview | None = None
    for piece in pieces:
        if isinstance(piece, bytes):
            if held is not None:
                yield held[:-2]
                held = None
            yield piece
        elif piece:
            if held is not None:
                yield held
            held = piece


def render_node_link(
    nodes: Iterable[Chunk], edges: Iterable[Chunk]
) -> Iterator[bytes | memoryview]:
    """Node-link JSON of ``nodes`` and ``edges`` (graph attributes :data:`GRAPH_ATTRIBUTES`),
    in pieces.

    A chunk is a frame whose rows are written as JSON objects, its columns the members in their
    order (the bytes of Polars' JSON encoder, nulls written null), or, for edges, a
    :class:`EdgeCodes`. Chunks are written in the order given and their rows in theirs: the
    caller sorts (nodes by id, edges by source, target, key). The chunks may come from a
    generator, a bucket at a time: each is cut into pieces of :data:`ENCODE_CHUNK` rows encoded
    on :data:`ENCODE_THREADS` threads while earlier pieces are written, at most
    :data:`ENCODE_AHEAD` pending, so that memory holds the caller's chunk and a few pieces, not
    the graph.
    """

    def items() -> Iterator[bytes | Callable[[], memoryview]]:
        yield HEAD
        yield from _work(nodes)
        yield MIDDLE
        yield from _work(edges)
        yield TAIL

    with ThreadPoolExecutor(ENCODE_THREADS, thread_name_prefix="graph-json") as pool:
        yield from _json_arrays(_in_order(pool, items()))


def encode_rows(chunk: Chunk) -> Iterator[memoryview]:
    """The rows of ``chunk`` as JSON lines, each followed by ``,\\n`` (the pieces
    :func:`render_node_link` lays between :data:`HEAD`, :data:`MIDDLE` and :data:`TAIL`), in
    pieces of at most :data:`ENCODE_CHUNK` rows: for a writer that puts the document together
    itself, e.g. from parts written apart. Pieces are encoded on :data:`ENCODE_THREADS`
    threads, as :func:`render_node_link` does."""
    with ThreadPoolExecutor(ENCODE_THREADS, thread_name_prefix="rows-json") as pool:
        for piece in _in_order(pool, _work([chunk])):
            assert isinstance(piece, memoryview)  # every item is encoded: no literal piece
            yield piece
