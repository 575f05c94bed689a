"""Turn a drug-mention graph into the compact view the page and the picture draw.

The view keeps every drug and journal and the publications, up to ``max_nodes`` nodes. Past
that it keeps a sample of the publications: for each drug its most recent ones first, taken in
turns across drugs so that every drug keeps some. Counts on drugs and journals always cover the
whole graph, and ``meta.reduced`` says what was left out, for the page to show.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from datapipeline.analysis import GraphDatabase, GraphView, open_graph

#: Past this many nodes, publications are sampled (the page stays fluid up to a few thousand).
DEFAULT_MAX_NODES = 3000

KIND_ORDER = ("drug", "journal", "pubmed", "clinical_trial")

#: Drug → publication pairs (any edge whose target is neither a drug nor a journal), with
#: the publication's kind, date (as text) and journal.
_MENTIONS = """
    SELECT DISTINCT e.source AS drug, e.target AS pub, p.type AS kind,
        CAST(p.date AS VARCHAR) AS date, p.journal
    FROM graph_edges AS e JOIN graph_nodes AS p ON p.id = e.target
    WHERE e.target_type NOT IN ('drug', 'journal') AND p.type NOT IN ('drug', 'journal')
"""


@contextmanager
def _opened(graph: GraphDatabase | GraphView | Path | str) -> Iterator[GraphDatabase]:
    """The graph as a :class:`GraphDatabase` (opened here, and closed, unless given as one)."""
    if isinstance(graph, GraphDatabase):
        yield graph
        return
    opened = graph.database() if isinstance(graph, GraphView) else open_graph(Path(graph), True)
    with opened as db:
        yield db


def _turns(mentions: pl.DataFrame) -> pl.DataFrame:
    """Each publication's turn: its best rank among the publications of the drugs it names."""
    ordered = mentions.sort(
        ["drug", pl.col("date").fill_null(""), "pub"], descending=[False, True, False]
    )
    ranked = ordered.with_columns(pl.int_range(pl.len()).over("drug").alias("turn"))
    return ranked.group_by("pub").agg(pl.col("turn").min(), pl.col("date").first())


def prepare(
    graph: GraphDatabase | GraphView | Path | str, max_nodes: int = DEFAULT_MAX_NODES
) -> dict[str, Any]:
    """The page's data: ``meta``, ``nodes`` (objects) and ``edges`` (``[source, target, dates]``).

    ``edges`` index into ``nodes``; a drug→journal edge lists the distinct dates of the
    mentions, a drug→publication edge lists the publication's date. Only what is drawn is
    read whole: drugs and journals with their counts (computed in SQL), and the publications
    kept (past ``max_nodes``, for each drug its ``max_nodes`` most recent at most).
    """
    with _opened(graph) as db:
        return _prepare(db, max(1, int(max_nodes)))


def _prepare(db: GraphDatabase, max_nodes: int) -> dict[str, Any]:
    db.execute(f"CREATE OR REPLACE TEMP VIEW mentions AS {_MENTIONS}")
    drug_stats = db.frame(
        "SELECT drug AS id, count(*) FILTER (WHERE kind = 'pubmed') AS pubmed, "
        "count(*) FILTER (WHERE kind = 'clinical_trial') AS trials, "
        "count(DISTINCT journal) AS journals FROM mentions GROUP BY drug"
    )
    journal_stats = db.frame(
        "SELECT 'journal:' || journal AS id, count(DISTINCT drug) AS drugs, "
        "count(DISTINCT pub) AS pubs FROM mentions WHERE journal IS NOT NULL GROUP BY journal"
    )
    node_counts = db.fetch("SELECT type, count(*) FROM graph_nodes GROUP BY type ORDER BY type")
    dates = db.fetch(
        "SELECT min(CAST(date AS VARCHAR)), max(CAST(date AS VARCHAR)) FROM graph_nodes "
        "WHERE type NOT IN ('drug', 'journal')"
    )[0]
    top_count, top_names = db.top_journals()
    listed = [
        db.frame(f"SELECT id, name, atccode FROM graph_nodes WHERE type = '{kind}' ORDER BY id")
        for kind in ("drug", "journal")
    ]

    drugs = (
        listed[0]
        .join(drug_stats, on="id", how="left")
        .with_columns(pl.col("pubmed", "trials", "journals").fill_null(0))
        .sort([pl.col("pubmed") + pl.col("trials"), "id"], descending=[True, False])
    )
    journals = (
        listed[1]
        .join(journal_stats, on="id", how="left")
        .with_columns(
            pl.col("drugs", "pubs").fill_null(0),
            pl.col("name").is_in(top_names).alias("top"),
        )
        .sort(["top", "drugs", "pubs", "id"], descending=[True, True, True, False])
    )
    total = {k: 0 for k in KIND_ORDER}
    total.update({str(kind): int(count) for kind, count in node_counts if kind is not None})
    node_total = sum(int(count) for _, count in node_counts)

    reduced: dict[str, Any] | None = None
    kept: pl.DataFrame | None = None
    if node_total > max_nodes:
        drugs = drugs.head(max_nodes)
        journals = journals.head(max(0, max_nodes - drugs.height))
        budget = max(0, max_nodes - drugs.height - journals.height)
        # a publication past the budget-th of each of its drugs never gets a turn in time
        db.register("kept_drugs", drugs.select("id"))
        candidates = db.frame(
            "SELECT drug, pub, date FROM mentions WHERE drug IN (SELECT id FROM kept_drugs) "
            "QUALIFY row_number() OVER (PARTITION BY drug ORDER BY coalesce(date, '') DESC, "
            "pub) <= $budget",
            {"budget": budget},
        )
        kept = (
            _turns(candidates)
            .sort(["turn", pl.col("date").fill_null(""), "pub"], descending=[False, True, False])
            .head(budget)
            .select(pl.col("pub").alias("id"))
        )
        reduced = {
            "max_nodes": max_nodes,
            "total_nodes": node_total,
            "shown_publications": kept.height,
            "total_publications": total.get("pubmed", 0) + total.get("clinical_trial", 0),
            "shown_journals": journals.height,
            "total_journals": total["journal"],
            "shown_drugs": drugs.height,
            "total_drugs": total["drug"],
        }
    pub_filter = "WHERE type NOT IN ('drug', 'journal')"
    if kept is not None:
        db.register("kept_pubs", kept)
        pub_filter += " AND id IN (SELECT id FROM kept_pubs)"
    pubs = db.frame(
        "SELECT id, type, title, CAST(date AS VARCHAR) AS date, journal, source_id "
        f"FROM graph_nodes {pub_filter}"
    )
    db.register("shown_pubs", pubs.select("id"))
    db.register("shown_drugs", drugs.select("id"))
    pub_drugs = db.frame(
        "SELECT m.pub AS id, list(n.name ORDER BY n.name NULLS FIRST) AS drug_names "
        "FROM mentions AS m LEFT JOIN graph_nodes AS n ON n.id = m.drug AND n.type = 'drug' "
        "WHERE m.pub IN (SELECT id FROM shown_pubs) GROUP BY m.pub"
    )
    db.register("shown_journals", journals.select("id"))
    # the edges drawn: between drugs and publications or journals that are drawn
    pub_edges = db.frame(
        "SELECT drug, pub AS target, [date] AS dates FROM mentions "
        "WHERE drug IN (SELECT id FROM shown_drugs) AND pub IN (SELECT id FROM shown_pubs)"
    )
    journal_edges = db.frame(
        "SELECT drug, 'journal:' || journal AS target, "
        "coalesce(list(DISTINCT date ORDER BY date) FILTER (WHERE date IS NOT NULL), []) "
        "AS dates FROM mentions WHERE journal IS NOT NULL "
        "AND drug IN (SELECT id FROM shown_drugs) "
        "AND 'journal:' || journal IN (SELECT id FROM shown_journals) GROUP BY drug, journal"
    )
    pubs = pubs.join(pub_drugs, on="id", how="left").sort("id")
    drugs = drugs.sort("id")
    journals = journals.sort("id")
    all_dates = (dates[0], dates[1])

    node_rows: list[dict[str, Any]] = []
    for row in drugs.iter_rows(named=True):
        node_rows.append(
            _clean(
                id=row["id"],
                kind="drug",
                label=row["name"],
                atccode=row["atccode"],
                pubmed=row["pubmed"],
                trials=row["trials"],
                journals=row["journals"],
            )
        )
    for row in journals.iter_rows(named=True):
        node_rows.append(
            _clean(
                id=row["id"],
                kind="journal",
                label=row["name"],
                drugs=row["drugs"],
                pubs=row["pubs"],
                top=bool(row["top"]),
            )
        )
    for row in pubs.iter_rows(named=True):
        node_rows.append(
            _clean(
                id=row["id"],
                kind=row["type"],
                label=row["title"],
                date=row["date"],
                journal=row["journal"],
                source_id=row["source_id"],
                drug_names=row["drug_names"] or [],
            )
        )
    index = pl.DataFrame(
        {"id": [n["id"] for n in node_rows], "i": list(range(len(node_rows)))},
        schema={"id": pl.String, "i": pl.Int64},
    )
    edge_frame = (
        pl.concat([pub_edges, journal_edges], how="vertical_relaxed")
        .join(index.rename({"id": "drug", "i": "s"}), on="drug", how="inner")
        .join(index.rename({"id": "target", "i": "t"}), on="target", how="inner")
        .sort("s", "t")
    )
    edges = [
        [s, t, [d for d in dates if d is not None]]
        for s, t, dates in edge_frame.select("s", "t", "dates").iter_rows()
    ]
    shown = {k: sum(1 for n in node_rows if n["kind"] == k) for k in total}
    meta = {
        "graph_name": "drug_mentions",
        "total": total,
        "shown": shown,
        "reduced": reduced,
        "top_journals": {"count": top_count, "names": top_names},
        "date_min": all_dates[0],
        "date_max": all_dates[1],
    }
    return {"meta": meta, "nodes": node_rows, "edges": edges}


def _clean(**fields: Any) -> dict[str, Any]:
    """The fields that carry a value (no nulls, no empty strings) to keep the page small."""
    return {k: v for k, v in fields.items() if v is not None and v != ""}


def script_json(payload: dict[str, Any]) -> str:
    """``payload`` as JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` left.

    A title holding ``</script>`` or ``<!--`` cannot end the element early; the escapes are
    plain JSON string escapes, so ``JSON.parse`` gives the original text back.
    """
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )
