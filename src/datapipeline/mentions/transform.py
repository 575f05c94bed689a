"""From raw source rows to the graph: the one function every engine calls.

Cleaning, merging and matching happen here, in that order, with every input row accounted
for: each is published (part of a cleaned table), merged into another row, or rejected with
a reason.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from datapipeline.mentions.cleaning import (
    clean_drugs,
    clean_publications,
    merge_drugs,
    merge_publications,
)
from datapipeline.mentions.graph import GraphTables, Matcher, build_graph
from datapipeline.mentions.matching import drug_patterns, find_mentions
from datapipeline.repairs import Repair
from datapipeline.schema import (
    CLINICAL_TRIALS,
    DRUGS,
    PUBMED,
    SOURCE_FILE,
    SOURCE_ROW,
    SourceKind,
)


@dataclass
class SourceAccount:
    """How one source table's rows ended: read = published + merged + rejected."""

    read: int = 0
    published: int = 0
    merged: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """True when every row read is accounted for."""
        return self.read == self.published + self.merged + self.rejected

    def to_dict(self) -> dict[str, object]:
        """The account as plain JSON-ready values, reasons sorted."""
        return {
            "read": self.read,
            "published": self.published,
            "merged": self.merged,
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
        }


@dataclass
class MentionResult:
    """The graph, the per-source accounts and the rejected rows (with their reasons)."""

    graph: GraphTables
    accounts: dict[str, SourceAccount]
    rejected: pl.DataFrame
    #: repairs made while reading the rows, when the engine read them itself (Beam)
    repairs: list[Repair] = field(default_factory=list)


def _rejected_rows(
    raw: pl.DataFrame, rejected: pl.DataFrame, table: str, fields: list[str]
) -> pl.DataFrame:
    """The rejected rows as they were read (not as cleaned), with table, provenance, reason."""
    provenance = [SOURCE_FILE, SOURCE_ROW]
    frame = raw.join(rejected.select(*provenance, "_reason"), on=provenance)
    return frame.select(
        pl.lit(table).alias("table"),
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
        pl.col("_reason").alias("reason"),
        pl.struct(fields).struct.json_encode().alias("record"),
    )


def _reasons(rejected: pl.DataFrame) -> dict[str, int]:
    counts = rejected.group_by("_reason").len()
    return dict(zip(counts["_reason"].to_list(), counts["len"].to_list(), strict=True))


def prepare_drugs(raw_drugs: pl.DataFrame) -> tuple[pl.DataFrame, SourceAccount, pl.DataFrame]:
    """Clean, pattern and merge the drug rows: (drugs, their account, the rejected rows)."""
    drugs, drugs_rejected = clean_drugs(raw_drugs)
    drugs, no_letters = drug_patterns(drugs)
    drugs_rejected = pl.concat([drugs_rejected, no_letters], how="diagonal_relaxed")
    drugs = merge_drugs(drugs)
    account = SourceAccount(
        read=raw_drugs.height,
        published=drugs.height,
        merged=int(drugs["rows"].sum()) - drugs.height,
        rejected=drugs_rejected.height,
        rejected_by_reason=_reasons(drugs_rejected),
    )
    rejected = _rejected_rows(raw_drugs, drugs_rejected, DRUGS.name, list(DRUGS.columns))
    return drugs, account, rejected


def build_mentions(
    raw_drugs: pl.DataFrame,
    raw_publications: dict[str, pl.DataFrame],
    matcher: Matcher = find_mentions,
) -> MentionResult:
    """Clean, merge and match raw rows (canonical string columns + provenance) into a graph.

    ``raw_publications`` maps a publication kind (``pubmed``, ``clinical_trials``) to its rows;
    ``matcher`` finds the mentions (see :data:`datapipeline.mentions.graph.Matcher`).
    """
    accounts: dict[str, SourceAccount] = {}
    rejected_parts: list[pl.DataFrame] = []

    drugs, accounts[DRUGS.name], drugs_rejected = prepare_drugs(raw_drugs)
    rejected_parts.append(drugs_rejected)

    def prepare(kind: SourceKind) -> tuple[pl.DataFrame, SourceAccount, pl.DataFrame]:
        raw = raw_publications[kind.name]
        kept, rejected = clean_publications(raw, kind.name)
        merged = merge_publications(kept)
        account = SourceAccount(
            read=raw.height,
            published=merged.height,
            merged=kept.height - merged.height,
            rejected=rejected.height,
            rejected_by_reason=_reasons(rejected),
        )
        return merged, account, _rejected_rows(raw, rejected, kind.name, list(kind.columns))

    # The kinds are independent: cleaned on two threads (Polars runs without the GIL).
    kinds = [k for k in (PUBMED, CLINICAL_TRIALS) if k.name in raw_publications]
    with ThreadPoolExecutor(2) as pool:
        prepared = list(pool.map(prepare, kinds))
    kept_parts = []
    for kind, (merged, account, rejected_rows) in zip(kinds, prepared, strict=True):
        accounts[kind.name] = account
        rejected_parts.append(rejected_rows)
        kept_parts.append(merged)

    publications = pl.concat(kept_parts, how="diagonal_relaxed")
    graph = build_graph(drugs, publications, matcher)
    rejected_all = pl.concat(rejected_parts, how="diagonal_relaxed").sort(
        "table", SOURCE_FILE, SOURCE_ROW
    )
    return MentionResult(graph=graph, accounts=accounts, rejected=rejected_all)
