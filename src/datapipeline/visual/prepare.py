"""Turn a drug-mention graph into the compact view the page and the picture draw.

The view keeps every drug and journal and the publications, up to ``max_nodes`` nodes. Past
that it keeps a sample of the publications: for each drug its most recent ones first, taken in
turns across drugs so that every drug keeps some. Counts on drugs and journals always cover the
whole graph, and ``meta.reduced`` says what was left out, for the page to show.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from datapipeline.analysis import GraphView, load_graph, top_journals

#: Past this many nodes, publications are sampled (the page stays fluid up to a few thousand).
DEFAULT_MAX_NODES = 3000

NODE_COLUMNS = ("id", "type", "name", "atccode", "source_id", "title", "date", "journal")
KIND_ORDER = ("drug", "journal", "pubmed", "clinical_trial")


def as_view(view_or_graph_path: GraphView | Path | str) -> GraphView:
    """A ``GraphView`` as is, or the graph file at a path read into one."""
    if isinstance(view_or_graph_path, GraphView):
        return view_or_graph_path
    return load_graph(Path(view_or_graph_path))


def _node_frame(view: GraphView) -> pl.DataFrame:
    frame = pl.from_dicts(list(view.nodes.values()), infer_schema_length=None)
    return frame.select(
        [
            (pl.col(c) if c in frame.columns else pl.lit(None)).cast(pl.String).alias(c)
            for c in NODE_COLUMNS
        ]
    )


def _mention_frame(view: GraphView) -> pl.DataFrame:
    drugs = sorted(view.drug_publications)
    return pl.DataFrame(
        {"drug": drugs, "pub": [sorted(view.drug_publications[d]) for d in drugs]},
        schema={"drug": pl.String, "pub": pl.List(pl.String)},
    ).explode("pub")


def _turns(mentions: pl.DataFrame) -> pl.DataFrame:
    """Each publication's turn: its best rank among the publications of the drugs it names."""
    ordered = mentions.sort(
        ["drug", pl.col("date").fill_null(""), "pub"], descending=[False, True, False]
    )
    ranked = ordered.with_columns(pl.int_range(pl.len()).over("drug").alias("turn"))
    return ranked.group_by("pub").agg(pl.col("turn").min(), pl.col("date").first())


def prepare(
    view_or_graph_path: GraphView | Path | str, max_nodes: int = DEFAULT_MAX_NODES
) -> dict[str, Any]:
    """The page's data: ``meta``, ``nodes`` (objects) and ``edges`` (``[source, target, dates]``).

    ``edges`` index into ``nodes``; a drug→journal edge lists the distinct dates of the
    mentions, a drug→publication edge lists the publication's date.
    """
    view = as_view(view_or_graph_path)
    max_nodes = max(1, int(max_nodes))
    nodes = _node_frame(view)
    pubs = nodes.filter(~pl.col("type").is_in(["drug", "journal"]))
    mentions = _mention_frame(view).join(
        pubs.select(pl.col("id").alias("pub"), pl.col("type").alias("kind"), "date", "journal"),
        on="pub",
        how="inner",
    )
    drug_journal = (
        mentions.filter(pl.col("journal").is_not_null())
        .with_columns(pl.concat_str(pl.lit("journal:"), pl.col("journal")).alias("journal_id"))
        .group_by("drug", "journal_id")
        .agg(pl.col("date").drop_nulls().unique().sort().alias("dates"))
    )
    top_count, top_names = top_journals(view)

    drug_stats = mentions.group_by("drug").agg(
        (pl.col("kind") == "pubmed").sum().alias("pubmed"),
        (pl.col("kind") == "clinical_trial").sum().alias("trials"),
        pl.col("journal").drop_nulls().n_unique().alias("journals"),
    )
    journal_stats = (
        mentions.filter(pl.col("journal").is_not_null())
        .group_by("journal")
        .agg(pl.col("drug").n_unique().alias("drugs"), pl.col("pub").n_unique().alias("pubs"))
        .select(pl.concat_str(pl.lit("journal:"), pl.col("journal")).alias("id"), "drugs", "pubs")
    )
    names = nodes.filter(pl.col("type") == "drug").select(
        pl.col("id").alias("drug"), pl.col("name").alias("drug_name")
    )
    pub_drugs = (
        mentions.join(names, on="drug", how="left")
        .group_by("pub")
        .agg(pl.col("drug_name").sort().alias("drug_names"))
        .rename({"pub": "id"})
    )

    drugs = (
        nodes.filter(pl.col("type") == "drug")
        .join(drug_stats.rename({"drug": "id"}), on="id", how="left")
        .with_columns(pl.col("pubmed", "trials", "journals").fill_null(0))
        .sort([pl.col("pubmed") + pl.col("trials"), "id"], descending=[True, False])
    )
    journals = (
        nodes.filter(pl.col("type") == "journal")
        .join(journal_stats, on="id", how="left")
        .with_columns(
            pl.col("drugs", "pubs").fill_null(0),
            pl.col("name").is_in(top_names).alias("top"),
        )
        .sort(["top", "drugs", "pubs", "id"], descending=[True, True, True, False])
    )
    total = {k: int(nodes.filter(pl.col("type") == k).height) for k in KIND_ORDER}
    for kind in nodes.get_column("type").unique().sort().to_list():
        total.setdefault(kind, int(nodes.filter(pl.col("type") == kind).height))

    all_dates = pubs.get_column("date").drop_nulls()
    reduced: dict[str, Any] | None = None
    if nodes.height > max_nodes:
        drugs = drugs.head(max_nodes)
        journals = journals.head(max(0, max_nodes - drugs.height))
        budget = max(0, max_nodes - drugs.height - journals.height)
        kept_drugs = drugs.get_column("id")
        turns = _turns(mentions.filter(pl.col("drug").is_in(kept_drugs.implode())))
        chosen = turns.sort(
            ["turn", pl.col("date").fill_null(""), "pub"], descending=[False, True, False]
        ).head(budget)
        pubs = pubs.filter(pl.col("id").is_in(chosen.get_column("pub").implode()))
        reduced = {
            "max_nodes": max_nodes,
            "total_nodes": nodes.height,
            "shown_publications": pubs.height,
            "total_publications": total.get("pubmed", 0) + total.get("clinical_trial", 0),
            "shown_journals": journals.height,
            "total_journals": total["journal"],
            "shown_drugs": drugs.height,
            "total_drugs": total["drug"],
        }
    pubs = pubs.join(pub_drugs, on="id", how="left").sort("id")
    drugs = drugs.sort("id")
    journals = journals.sort("id")

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
    pub_edges = mentions.select(
        "drug", pl.col("pub").alias("target"), pl.concat_list(pl.col("date")).alias("dates")
    )
    journal_edges = drug_journal.select("drug", pl.col("journal_id").alias("target"), "dates")
    edge_frame = (
        pl.concat([pub_edges, journal_edges])
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
        "date_min": all_dates.min() if all_dates.len() else None,
        "date_max": all_dates.max() if all_dates.len() else None,
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
