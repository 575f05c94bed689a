"""The drug-mention graph: tables of nodes and edges assembled from mentioned rows, and their
JSON (networkx node-link form).

The graph is a directed multigraph: drug → publication and drug → journal edges, each keyed and
labelled by the date of the mention, so a drug mentioned by one journal on two dates has two
edges to it. Only publications and journals that mention a drug are nodes; every drug is one.
The JSON is deterministic (nodes sorted by id, edges by source, target, key; no timestamps) and
written through a temporary file renamed into place.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import polars as pl

from datapipeline.atomic import atomic_open
from datapipeline.kernels.node_link import Chunk, EdgeCodes, render_node_link
from datapipeline.mentions.matching import Matcher, find_mentions
from datapipeline.mentions.nodes import (
    drug_node_rows,
    drug_nodes,
    journal_names,
    journal_node_rows,
    publication_node_ids,
)
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW


@dataclass(frozen=True)
class GraphTables:
    """Nodes as frames and edges, sorted as written; :func:`write_graph` turns them into
    node-link JSON."""

    drugs: pl.DataFrame  # id, type, name, atccode
    publications: pl.DataFrame  # id, type, source_id, title, date, journal
    journals: pl.DataFrame  # id, type, name
    #: source, target, key, date (``edges.frame()``), sorted by source, target, key
    edges: EdgeCodes

    @property
    def mention_count(self) -> int:
        """Number of drug → publication edges."""
        return self.edges.height - self.journal_edge_count

    @property
    def journal_edge_count(self) -> int:
        """Number of drug → journal edges."""
        is_journal = self.edges.targets.str.starts_with("journal:")
        return int(is_journal.gather(self.edges.codes.get_column("target")).sum())

    def mentioned_drugs(self) -> pl.Series:
        """The ids of the drugs with at least one edge."""
        return self.edges.sources.gather(self.edges.codes.get_column("source").unique())


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


def graph_from_mentioned(
    drug_node_table: pl.DataFrame, mentioned: pl.DataFrame, *, nodes: bool = True
) -> GraphTables:
    """The graph from drug nodes and one row per mention: the publication's columns (node
    ``id``, ``type``, ``journal_name``…) and the ``drug_id`` it mentions, in any order.
    ``nodes=False``: the edges alone (the publications table is left empty), for an engine
    that writes the nodes of these rows elsewhere.

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
    node_columns = ["type", "source_id", "title"] if nodes else []
    columns = mentioned.select("id", *node_columns, "date", "journal_name")
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
    coded = EdgeCodes(codes=codes, sources=drug_ids, targets=targets, dates=date_text)
    publications = pubs.select(
        "id",
        *node_columns,
        date_text.gather(date_of_pub).alias("date"),
        pl.col("journal_name").alias("journal"),
    )
    if not nodes:
        publications = publications.clear()
    journals = journal_node_rows(names)
    return GraphTables(
        drugs=drugs,
        publications=publications,
        journals=journals,
        edges=coded,
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
    return nodes, [tables.edges]


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
