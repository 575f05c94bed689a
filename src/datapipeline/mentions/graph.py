"""The drug-mention graph: tables of nodes and edges, and their JSON (networkx node-link form).

The graph is a directed multigraph: drug → publication and drug → journal edges, each keyed and
labelled by the date of the mention, so a drug mentioned by one journal on two dates has two
edges to it. Only publications and journals that mention a drug are nodes; every drug is one.
The JSON is deterministic (nodes sorted by id, edges by source, target, key; no timestamps) and
written through a temporary file renamed into place.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

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

    @property
    def mention_count(self) -> int:
        """Number of drug → publication edges."""
        return self.edges.height - int(self.edges["target"].str.starts_with("journal:").sum())


def shared_source_ids(pubs: pl.DataFrame) -> pl.Series:
    """For each publication, whether its node id needs the content hash: it has no id, or
    another publication of its kind has the same id (a source defect)."""
    return pubs.select(
        (pl.col("source_id").is_null() | pl.struct("kind", "source_id").is_duplicated()).alias(
            "_shared"
        )
    ).to_series()


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
#: drug, each pair once. ``titles`` has ``pub_id`` (any unique key: :func:`build_graph` passes row
#: numbers), ``title``, ``kind`` and the provenance of the title's row; ``drugs`` has ``drug_id``
#: and ``pattern``. :func:`find_mentions` is the matcher; an engine may pass one that reuses
#: earlier results (it must return what find_mentions would).
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
    """Match ``drugs`` (name, atccode, pattern) against cleaned, merged ``pubs`` into a graph."""
    nodes = drug_nodes(drugs)
    # The matcher needs the titles and their provenance, not the node ids: it runs on a thread
    # while the ids and journal names are computed. Its titles are named by row number, so
    # that the mentions find their publications by position rather than by a join on strings.
    titles = pubs.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("pub_id"),
        "title",
        "kind",
        SOURCE_FILE,
        SOURCE_ROW,
    )
    drug_patterns = nodes.select(pl.col("id").alias("drug_id"), "pattern")
    with ThreadPoolExecutor(1, thread_name_prefix="match") as pool:
        matching = pool.submit(matcher, titles, drug_patterns)
        pubs = publication_node_ids(pubs).join(
            journal_names(pubs), on="journal", how="left", maintain_order="left"
        )
        mentions = matching.result()
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


def graph_from_mentioned(drug_node_table: pl.DataFrame, mentioned: pl.DataFrame) -> GraphTables:
    """The graph from drug nodes and one row per mention: the publication's columns (node
    ``id``, ``type``, ``journal_name``…) and the ``drug_id`` it mentions, in any order."""
    date = pl.col("date").dt.to_string("%Y-%m-%d")
    pub_edges = mentioned.select(
        pl.col("drug_id").alias("source"), pl.col("id").alias("target"), date.alias("date")
    )
    journal_edges = (
        mentioned.filter(pl.col("journal_name").is_not_null())
        .select(
            pl.col("drug_id").alias("source"),
            pl.concat_str(pl.lit("journal:"), pl.col("journal_name")).alias("target"),
            date.alias("date"),
        )
        .unique()
    )
    edges = (
        pl.concat([pub_edges, journal_edges])
        .with_columns(pl.col("date").alias("key"))
        .select("source", "target", "key", "date")
        .sort("source", "target", "key")
    )
    publications = (
        mentioned.unique("id")
        .select(
            "id",
            "type",
            "source_id",
            "title",
            date.alias("date"),
            pl.col("journal_name").alias("journal"),
        )
        .sort("id")
    )
    journals = (
        mentioned.filter(pl.col("journal_name").is_not_null())
        .select(
            pl.concat_str(pl.lit("journal:"), pl.col("journal_name")).alias("id"),
            pl.lit("journal").alias("type"),
            pl.col("journal_name").alias("name"),
        )
        .unique("id")
        .sort("id")
    )
    return GraphTables(
        drugs=drug_node_table.drop("pattern").sort("id"),
        publications=publications,
        journals=journals,
        edges=edges,
    )


def _json_lines(frame: pl.DataFrame) -> memoryview:
    """The rows of ``frame`` as JSON objects, each followed by ``,\n``.

    Each row is encoded in native code (``struct.json_encode``, the same bytes as Polars' NDJSON
    writer) and the lines are written by the CSV writer with no quoting and ``,\n`` as the line
    end: the separators come out of native code, with no pass over the bytes in Python (a
    ``bytes.replace`` of the ~150 MB holds the GIL and cost more than the encoding itself).
    A JSON value never holds a raw newline or needs CSV quoting, so the lines are exact.
    """
    if frame.is_empty():
        return memoryview(b"")
    buffer = io.BytesIO()
    frame.select(pl.struct(pl.all()).struct.json_encode()).write_csv(
        buffer, include_header=False, quote_style="never", line_terminator=",\n"
    )
    return buffer.getbuffer()


#: Rows per chunk when encoding graph.json on threads.
ENCODE_CHUNK = 100_000


def _chunks(frame: pl.DataFrame) -> list[pl.DataFrame]:
    return [frame.slice(i, ENCODE_CHUNK) for i in range(0, frame.height, ENCODE_CHUNK)]


def _json_array_body(encoded: Iterator[memoryview]) -> Iterator[memoryview]:
    """The pieces of ``encoded`` with the ``,\n`` after the last record dropped."""
    previous: memoryview | None = None
    for piece in encoded:
        if not piece:
            continue
        if previous is not None:
            yield previous
        previous = piece
    if previous is not None:
        yield previous[:-2]


def render_graph(tables: GraphTables) -> Iterator[bytes | memoryview]:
    """The graph as node-link JSON (``networkx.node_link_graph`` reads it as is), in pieces.

    Nodes are sorted by id. Each kind of node is sorted on its own, and the kinds are written
    in the order of their id prefixes (``clinical_trial:`` < ``drug:`` < ``journal:`` <
    ``pubmed:``), which is the order of one sort of them all.
    """
    pubs = tables.publications
    groups = [
        pubs.filter(pl.col("type") == "clinical_trial"),
        tables.drugs,
        tables.journals,
        pubs.filter(pl.col("type") == "pubmed"),
    ]
    # The pieces are encoded on threads (the encoder runs in native code, without the GIL), in
    # chunks of similar size so that the threads finish together; each is handed on as soon
    # as it and those before it are ready, so that writing the file overlaps the encoding.
    node_chunks = [c for g in groups for c in _chunks(g)]
    edge_chunks = _chunks(tables.edges)
    with ThreadPoolExecutor(2) as pool:
        encoded = pool.map(_json_lines, [*node_chunks, *edge_chunks])
        yield b'{"directed":true,"multigraph":true,"graph":' + GRAPH_ATTRIBUTES.encode()
        yield b',"nodes":[\n'
        yield from _json_array_body(itertools.islice(encoded, len(node_chunks)))
        yield b'\n],"edges":[\n'
        yield from _json_array_body(encoded)
        yield b"\n]}\n"


def write_graph(tables: GraphTables, out: IO[str]) -> None:
    """Write ``tables`` as node-link JSON text to ``out``."""
    for piece in render_graph(tables):
        out.write(bytes(piece).decode("utf-8"))


def save_graph(tables: GraphTables, path: Path) -> None:
    """Write the graph JSON to ``path`` atomically: a crash leaves the old file or none."""
    with atomic_open(path, binary=True) as handle:
        for piece in render_graph(tables):
            handle.write(piece)
