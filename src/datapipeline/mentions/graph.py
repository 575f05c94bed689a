"""The drug-mention graph: tables of nodes and edges, and their JSON (networkx node-link form).

The graph is a directed multigraph: drug → publication and drug → journal edges, each keyed and
labelled by the date of the mention, so a drug mentioned by one journal on two dates has two
edges to it. Only publications and journals that mention a drug are nodes; every drug is one.
The JSON is deterministic (nodes sorted by id, edges by source, target, key; no timestamps) and
written through a temporary file renamed into place.
"""

from __future__ import annotations

import functools
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Generic, TypeVar

import polars as pl

from datapipeline.atomic import atomic_open
from datapipeline.mentions.cleaning import content_id
from datapipeline.mentions.matching import find_mentions
from datapipeline.schema import PUBLICATION_TYPES, SOURCE_FILE, SOURCE_ROW

GRAPH_ATTRIBUTES = '{"name":"drug_mentions","schema_version":1}'


@dataclass(frozen=True)
class GraphTables:
    """Nodes and edges as frames; ``write_graph`` turns them into node-link JSON."""

    drugs: pl.DataFrame  # id, type, name, atccode
    publications: pl.DataFrame  # id, type, source_id, title, date, journal
    journals: pl.DataFrame  # id, type, name
    edges: pl.DataFrame  # source, target, key, date
    #: The same edges as positions (what :func:`graph_from_mentioned` builds): when given, the
    #: renderer writes the edges from it.
    coded_edges: CodedEdges | None = field(default=None, repr=False, compare=False)

    @property
    def mention_count(self) -> int:
        """Number of drug → publication edges."""
        return self.edges.height - int(self.edges["target"].str.starts_with("journal:").sum())


@dataclass(frozen=True)
class CodedEdges:
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

    def with_codes(self, codes: pl.DataFrame) -> CodedEdges:
        """Other edges over the same tables, e.g. one bucket of sources at a time: the JSON of
        the tables is made once for them all."""
        other = CodedEdges(codes, self.sources, self.targets, self.dates)
        object.__setattr__(other, "_pieces", self._pieces)
        return other

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


def shared_source_ids(pubs: pl.DataFrame) -> pl.Series:
    """For each publication, whether its node id needs the content hash: it has no id, or
    another publication of its kind has the same id (a source defect).

    The ids' 64-bit hashes are compared first (cheaper than the strings, or (kind, id) rows);
    only the few rows whose hash repeats (the same id, or a collision) are compared exactly.
    """
    ids = pubs.get_column("source_id")
    shared = ids.hash().is_duplicated()
    candidates = shared.arg_true()
    if not candidates.is_empty():
        same_kind = pubs.select("kind", "source_id")[candidates].select(
            pl.struct("kind", "source_id").is_duplicated()
        )
        shared = shared.scatter(candidates, same_kind.to_series())
    return (ids.is_null() | shared).alias("_shared")


def publication_node_ids(pubs: pl.DataFrame, shared: pl.Series | None = None) -> pl.DataFrame:
    """Give each publication a node id ``<type>:<source id>``, stable across runs.

    A record without an id gets ``<type>:~<hash of title and date>``; two records sharing one
    id (a source defect) get the hash appended, so neither is lost. ``shared``: the
    :func:`shared_source_ids` of these rows when they were computed over more publications
    (a caller that needs ids only for some rows), else computed from ``pubs``.
    """
    node_type = pl.col("kind").replace_strict(PUBLICATION_TYPES, return_dtype=pl.String)
    if shared is None:
        shared = shared_source_ids(pubs)
    frame = pubs.with_columns(node_type.alias("type"), shared.alias("_shared"))
    # The content hash is needed by few rows (no id, or an id used twice): only they get one.
    rows = frame.get_column("_shared").arg_true()
    hashes = pl.Series("_hash", [None] * frame.height, dtype=pl.String)
    if not rows.is_empty():
        digest_input = frame.select(
            pl.concat_str(
                [
                    pl.col("kind"),
                    pl.col("title").str.to_lowercase(),
                    pl.col("date").cast(pl.String),
                ],
                separator="\x1f",
            )
        ).to_series()
        hashes = hashes.scatter(rows, [content_id(v) for v in digest_input.gather(rows)])
    type_prefix = pl.concat_str(pl.col("type"), pl.lit(":"))
    node_id = (
        pl.when(pl.col("_hash").is_null())
        .then(pl.concat_str(type_prefix, pl.col("source_id")))
        .when(pl.col("source_id").is_null())
        .then(pl.concat_str(type_prefix, pl.lit("~"), pl.col("_hash")))
        .otherwise(pl.concat_str(type_prefix, pl.col("source_id"), pl.lit("~"), pl.col("_hash")))
    )
    return frame.with_columns(hashes).with_columns(node_id.alias("id")).drop("_shared", "_hash")


def journal_names(pubs: pl.DataFrame) -> pl.DataFrame:
    """Map each journal spelling to one display name: journals differing only by case are one.

    The display name is the most frequent spelling (ties: the smallest in code-point order).
    """
    return journal_display_names(journal_spellings(pubs))


def journal_spellings(pubs: pl.DataFrame) -> pl.DataFrame:
    """How many publications use each journal spelling: ``journal``, ``len``.

    Counts of disjoint sets of publications add up: an engine that sees the publications in
    batches sums the batches' counts per spelling and passes them to
    :func:`journal_display_names`.
    """
    return pubs.filter(pl.col("journal").is_not_null()).group_by("journal").len()


def summed_spellings(counts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Spelling counts (``journal``, ``len``) of several sets of publications added up, as
    signed 64-bit numbers (an engine may subtract the counts of rows it replaces); spellings
    counted zero times are dropped."""
    frames = [c.with_columns(pl.col("len").cast(pl.Int64)) for c in counts]
    if not frames:
        return pl.DataFrame(schema={"journal": pl.String, "len": pl.Int64})
    return pl.concat(frames).group_by("journal").agg(pl.col("len").sum()).filter(pl.col("len") > 0)


def journal_display_names(spelling_counts: pl.DataFrame) -> pl.DataFrame:
    """:func:`journal_names` from the counts of :func:`journal_spellings` (``journal``, ``len``)."""
    spellings = spelling_counts.with_columns(
        pl.col("journal").str.to_lowercase().alias("_key")
    ).sort(["_key", "len", "journal"], descending=[False, True, False])
    display = spellings.group_by("_key", maintain_order=True).agg(
        pl.col("journal").first().alias("journal_name")
    )
    return spellings.join(display, on="_key").select("journal", "journal_name")


#: A matcher: (titles, drugs) → the (``pub_id``, ``drug_id``) pairs where the title mentions the
#: drug, each pair once. ``titles`` has ``pub_id`` (any unique key: ``build_mentions`` passes
#: the numbers of the cleaned rows, matched before merging, one call per kind), ``title``,
#: ``kind``, the provenance of the title's row and, optionally, the title's words (column
#: ``matching.WORDS``, computed already); ``drugs`` has ``drug_id`` and ``pattern``.
#: :func:`find_mentions` is the matcher; an engine may pass one that reuses earlier results (it
#: must return what find_mentions would).
Matcher = Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]


def drug_nodes(drugs: pl.DataFrame) -> pl.DataFrame:
    """Drug nodes (id, type, name, atccode) with their search ``pattern``."""
    return drugs.select(
        pl.concat_str(pl.lit("drug:"), pl.col("name")).alias("id"),
        pl.lit("drug").alias("type"),
        pl.col("name"),
        pl.col("atccode"),
        pl.col("pattern"),
    )


def match_inputs(
    drug_node_table: pl.DataFrame, pub_nodes: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The (titles, drugs) frames a :data:`Matcher` receives."""
    titles = pub_nodes.select(
        pl.col("id").alias("pub_id"), "title", "kind", SOURCE_FILE, SOURCE_ROW
    )
    return titles, drug_node_table.select(pl.col("id").alias("drug_id"), "pattern")


def build_graph(
    drugs: pl.DataFrame, pubs: pl.DataFrame, matcher: Matcher = find_mentions
) -> GraphTables:
    """Match ``drugs`` (name, atccode, pattern) against cleaned, merged ``pubs`` into a graph.

    The graph of publications merged already (``build_mentions`` is the pipeline's path: it
    matches before merging). Titles are named by row number, so that the mentions find their
    publications by position rather than by a join on strings.
    """
    nodes = drug_nodes(drugs)
    titles = pubs.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("pub_id"),
        "title",
        "kind",
        SOURCE_FILE,
        SOURCE_ROW,
    )
    mentions = matcher(titles, nodes.select(pl.col("id").alias("drug_id"), "pattern"))
    pubs = publication_node_ids(pubs).join(
        journal_names(pubs), on="journal", how="left", maintain_order="left"
    )
    columns = pubs.select("id", "type", "source_id", "title", "date", "journal_name")
    mentioned = columns[mentions.get_column("pub_id")].with_columns(mentions.get_column("drug_id"))
    return graph_from_mentioned(nodes, mentioned)


def graph_from_mentions(
    drug_node_table: pl.DataFrame, pubs: pl.DataFrame, mentions: pl.DataFrame
) -> GraphTables:
    """The graph from drug nodes, publications (with node ``id``, ``type`` and ``journal_name``)
    and their mentions (``pub_id``, ``drug_id``).

    Only publications that appear in ``mentions`` are used: an engine may pass just those.
    """
    mentioned = pubs.join(mentions, left_on="id", right_on="pub_id")
    return graph_from_mentioned(drug_node_table, mentioned)


#: The rows :func:`graph_from_mentioned` takes, one per mention: columns and types.
MENTIONED_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "type": pl.String(),
    "source_id": pl.String(),
    "title": pl.String(),
    "date": pl.Date(),
    "journal_name": pl.String(),
    "drug_id": pl.String(),
}


def drug_node_rows(drug_node_table: pl.DataFrame) -> pl.DataFrame:
    """The drug nodes as written: ``id``, ``type``, ``name``, ``atccode``, sorted by id."""
    return drug_node_table.drop("pattern").sort("id")


def journal_node_rows(names: pl.Series) -> pl.DataFrame:
    """The journal nodes as written (``id``, ``type``, ``name``) of the display ``names``,
    sorted by id."""
    return (
        names.drop_nulls()
        .unique()
        .sort()
        .to_frame("name")
        .select(
            pl.concat_str(pl.lit("journal:"), "name").alias("id"),
            pl.lit("journal").alias("type"),
            "name",
        )
    )


def publication_node_rows(mentioned: pl.DataFrame) -> pl.DataFrame:
    """The publication nodes as written (``id``, ``type``, ``source_id``, ``title``, ``date``
    text, ``journal``), one per id, sorted by id, from rows as :func:`graph_from_mentioned`
    takes them. (That function makes the same rows its own, cheaper, way.)"""
    return (
        mentioned.unique("id")
        .select(
            "id",
            "type",
            "source_id",
            "title",
            pl.col("date").dt.to_string("%Y-%m-%d"),
            pl.col("journal_name").alias("journal"),
        )
        .sort("id")
    )


def graph_from_mentioned(drug_node_table: pl.DataFrame, mentioned: pl.DataFrame) -> GraphTables:
    """The graph from drug nodes and one row per mention: the publication's columns (node
    ``id``, ``type``, ``journal_name``…) and the ``drug_id`` it mentions, in any order.

    Every string is ranked once (drug ids, publication ids, journal names, dates) and the edges
    are sorted on those ranks, then written back as strings by position: the order is the one
    of a sort on the strings, for a fraction of its cost.
    """
    drugs = drug_node_rows(drug_node_table)
    drug_ids = drugs.get_column("id").drop_nulls().unique().sort()
    # The mentions in publication id order: the first row of each id is its publication.
    rows = mentioned.select(
        "id",
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
        pl.col("drug_id").cast(pl.Enum(drug_ids)).to_physical().cast(pl.UInt32).alias("_source"),
    ).sort("id", multithreaded=False)
    ids = rows.get_column("id")
    first = ids.ne_missing(ids.shift(1))
    pub_of_row = first.cum_sum().cast(pl.UInt32) - 1
    pub_rows = rows.get_column("_row").filter(first)
    columns = mentioned.select("id", "type", "source_id", "title", "date", "journal_name")
    with ThreadPoolExecutor(1, thread_name_prefix="graph-copy") as pool:
        # Sorted, the strings are scattered over the input's memory: reading them in this order
        # (to encode them) costs more than copying them once into place, done meanwhile.
        compacting = pool.submit(lambda: _compact(columns[pub_rows]))
        # What the ranks need of the publications, read where they are.
        keys = columns.select("id", "date", "journal_name")[pub_rows]

        # Each date once, in the order of its text (which the edges sort on).
        dates = (
            keys.select(pl.col("date").unique())
            .with_columns(pl.col("date").dt.to_string("%Y-%m-%d").alias("text"))
            .sort("text", nulls_last=False)
        )
        positions = _positions(dates.height)
        date_of_pub = (
            keys.get_column("date")
            .replace_strict(dates.get_column("date"), positions, return_dtype=pl.UInt32)
            .cast(pl.UInt32)
        )  # (an empty mapping returns the dates as they are)
        names = keys.get_column("journal_name").drop_nulls().unique().sort()
        journal_of_pub = (
            keys.get_column("journal_name").cast(pl.Enum(names)).to_physical().cast(pl.UInt32)
        )
        journal_ids = (
            names.to_frame("id").select(pl.concat_str(pl.lit("journal:"), "id")).to_series()
        )

        # Targets (publications and journals) by position in one sorted list of their ids:
        # journal j comes after the publications whose ids sort before its own, and the other
        # way round.
        pubs_before_journal = (
            keys.get_column("id").search_sorted(journal_ids, side="left").cast(pl.UInt32)
        )
        journal_target = pubs_before_journal + _positions(names.len())
        journals_before_pub = pubs_before_journal.search_sorted(
            _positions(keys.height), side="right"
        ).cast(pl.UInt32)
        pub_target = _positions(keys.height) + journals_before_pub

        source = rows.get_column("_source")
        date = date_of_pub.gather(pub_of_row)
        mention_edges = pl.DataFrame(
            {"source": source, "target": pub_target.gather(pub_of_row), "date": date}
        )
        journal_edges = pl.DataFrame(
            {
                "source": source,
                "target": journal_target.gather(journal_of_pub.gather(pub_of_row)),
                "date": date,
            }
        ).drop_nulls("target")
        target_count = keys.height + names.len()
        widths = (_bits(drug_ids.len()), _bits(target_count), _bits(dates.height))
        codes = _sort_edge_codes(mention_edges, journal_edges, widths)
        pubs = compacting.result()

    order = pl.zeros(target_count, dtype=pl.UInt32, eager=True).scatter(
        pl.concat([pub_target, journal_target]), _positions(target_count)
    )
    targets = pl.concat([pubs.get_column("id"), journal_ids.alias("id")]).gather(order)
    date_text = dates.get_column("text")
    coded = CodedEdges(codes=codes, sources=drug_ids, targets=targets, dates=date_text)
    publications = pubs.select(
        "id",
        "type",
        "source_id",
        "title",
        date_text.gather(date_of_pub).alias("date"),
        pl.col("journal_name").alias("journal"),
    )
    journals = journal_node_rows(names)
    return GraphTables(
        drugs=drugs,
        publications=publications,
        journals=journals,
        edges=coded.frame(),
        coded_edges=coded,
    )


def _bits(count: int) -> int:
    """Bits that hold every position ``0 … count - 1``."""
    return max(count - 1, 0).bit_length()


#: Sort keys up to this many bits are packed into one UInt64 and sorted as plain integers.
PACKED_KEY_BITS = 63


def _sort_edge_codes(
    mention_edges: pl.DataFrame, journal_edges: pl.DataFrame, widths: tuple[int, int, int]
) -> pl.DataFrame:
    """The edges (``source``, ``target``, ``date`` positions) sorted, journal edges made unique.

    Positions sort as their strings do, so sorting them is sorting the strings. When the three
    fit side by side in one integer they are sorted as one: a sort of plain integers costs a
    fraction of a sort on three columns.
    """
    _, target_bits, date_bits = widths
    if sum(widths) > PACKED_KEY_BITS:
        return pl.concat([mention_edges, journal_edges.unique()]).sort(
            "source", "target", "date", multithreaded=False
        )
    shift_source = pl.lit(1 << (target_bits + date_bits), dtype=pl.UInt64)
    shift_target = pl.lit(1 << date_bits, dtype=pl.UInt64)

    def packed(edges: pl.DataFrame) -> pl.Series:
        key = (
            pl.col("source").cast(pl.UInt64) * shift_source
            + pl.col("target").cast(pl.UInt64) * shift_target
            + pl.col("date").cast(pl.UInt64)
        )
        return edges.select(key.alias("key")).to_series()

    keys = pl.concat([packed(mention_edges), packed(journal_edges).unique()])
    key = pl.col("key")
    return (
        keys.sort(multithreaded=False)
        .to_frame()
        .select(
            (key // shift_source).cast(pl.UInt32).alias("source"),
            (key // shift_target % pl.lit(1 << target_bits, dtype=pl.UInt64))
            .cast(pl.UInt32)
            .alias("target"),
            (key % shift_target).cast(pl.UInt32).alias("date"),
        )
    )


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its strings copied end to end, in row order."""
    return pl.DataFrame(pl.from_arrow(frame.to_arrow(compat_level=pl.CompatLevel.oldest())))


def _positions(count: int) -> pl.Series:
    return pl.int_range(count, eager=True, dtype=pl.UInt32)


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
#: for edges, :class:`CodedEdges`.
Chunk = pl.DataFrame | CodedEdges


def _work(chunks: Iterable[Chunk]) -> Iterator[Callable[[], memoryview]]:
    """Functions that encode ``chunks`` in pieces of at most :data:`ENCODE_CHUNK` rows."""
    for chunk in chunks:
        if isinstance(chunk, CodedEdges):
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
    :class:`CodedEdges`. Chunks are written in the order given and their rows in theirs: the
    caller sorts (nodes by id, edges by source, target, key). The chunks may come from a
    generator, a bucket at a time: each is cut into pieces of :data:`ENCODE_CHUNK` rows encoded
    on :data:`ENCODE_THREADS` threads while earlier pieces are written, at most
    :data:`ENCODE_AHEAD` pending, so that memory holds the caller's chunk and a few pieces, not
    the graph.
    """

    def items() -> Iterator[bytes | Callable[[], memoryview]]:
        yield b'{"directed":true,"multigraph":true,"graph":' + GRAPH_ATTRIBUTES.encode()
        yield b',"nodes":[\n'
        yield from _work(nodes)
        yield b'\n],"edges":[\n'
        yield from _work(edges)
        yield b"\n]}\n"

    with ThreadPoolExecutor(ENCODE_THREADS, thread_name_prefix="graph-json") as pool:
        yield from _json_arrays(_in_order(pool, items()))


def graph_chunks(tables: GraphTables) -> tuple[list[Chunk], list[Chunk]]:
    """The node chunks and the edge chunks of ``tables``, in the order graph.json lists them.

    Nodes are sorted by id. Each kind of node is sorted on its own, and the kinds are written
    in the order of their id prefixes (``clinical_trial:`` < ``drug:`` < ``journal:`` <
    ``pubmed:``), which is the order of one sort of them all.
    """
    pubs = tables.publications
    nodes: list[Chunk] = [
        pubs.filter(pl.col("type") == "clinical_trial"),
        tables.drugs,
        tables.journals,
        pubs.filter(pl.col("type") == "pubmed"),
    ]
    edges: list[Chunk] = [tables.coded_edges if tables.coded_edges is not None else tables.edges]
    return nodes, edges


def render_graph(tables: GraphTables) -> Iterator[bytes | memoryview]:
    """The graph as node-link JSON (``networkx.node_link_graph`` reads it as is), in pieces
    (the chunks of :func:`graph_chunks`)."""
    return render_node_link(*graph_chunks(tables))


def write_graph(tables: GraphTables, out: IO[str]) -> None:
    """Write ``tables`` as node-link JSON text to ``out``."""
    for piece in render_graph(tables):
        out.write(bytes(piece).decode("utf-8"))


def save_graph(tables: GraphTables, path: Path) -> None:
    """Write the graph JSON to ``path`` atomically: a crash leaves the old file or none."""
    with atomic_open(path, binary=True) as handle:
        for piece in render_graph(tables):
            handle.write(piece)
