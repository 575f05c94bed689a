"""What a run did: the run report (accounts, graph size, outputs, repairs) and the graph's
summary, a value that adds up over the parts of a graph written piece by piece."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl

from datapipeline.mentions.assembly import GraphTables
from datapipeline.mentions.recipe import SourceAccount
from datapipeline.repairs import Repair
from datapipeline.run.imports import Changes, RejectedFile
from datapipeline.security import redact


@dataclass(frozen=True)
class GraphSummary:
    """Counts of the graph's nodes and edges, and the drugs with an edge.

    Summaries of disjoint parts of a graph (buckets of publications or of drugs) add up; the
    drugs and journals are counted by whoever writes those nodes.
    """

    drugs: int = 0
    publications: int = 0
    journals: int = 0
    drug_publication_edges: int = 0
    drug_journal_edges: int = 0
    mentioned_drugs: frozenset[str] = frozenset()

    def __add__(self, other: GraphSummary) -> GraphSummary:
        return GraphSummary(
            drugs=self.drugs + other.drugs,
            publications=self.publications + other.publications,
            journals=self.journals + other.journals,
            drug_publication_edges=self.drug_publication_edges + other.drug_publication_edges,
            drug_journal_edges=self.drug_journal_edges + other.drug_journal_edges,
            mentioned_drugs=self.mentioned_drugs | other.mentioned_drugs,
        )

    @classmethod
    def of_tables(cls, tables: GraphTables, *, nodes: bool = True) -> GraphSummary:
        """The summary of ``tables``; with ``nodes=False`` only of its edges (a bucket of
        drugs' edges, whose nodes are counted elsewhere)."""
        journal_edges = tables.journal_edge_count
        return cls(
            drugs=tables.drugs.height if nodes else 0,
            publications=tables.publications.height if nodes else 0,
            journals=tables.journals.height if nodes else 0,
            drug_publication_edges=tables.edges.height - journal_edges,
            drug_journal_edges=journal_edges,
            mentioned_drugs=frozenset(tables.mentioned_drugs().to_list()),
        )

    @classmethod
    def total(cls, parts: Iterable[GraphSummary]) -> GraphSummary:
        """The sum of ``parts``."""
        return sum(parts, cls())

    def to_dict(self, drug_nodes: pl.DataFrame) -> dict[str, object]:
        """The run report's ``graph``; ``drug_nodes`` (``id``, ``name``) names the drugs
        without any mention."""
        ids = drug_nodes.get_column("id").to_list()
        names = drug_nodes.get_column("name").to_list()
        return {
            "drugs": self.drugs,
            "publications": self.publications,
            "journals": self.journals,
            "drug_publication_edges": self.drug_publication_edges,
            "drug_journal_edges": self.drug_journal_edges,
            "drugs_without_mentions": sorted(
                n for i, n in zip(ids, names, strict=True) if i not in self.mentioned_drugs
            ),
        }


@dataclass
class RunReport:
    """What a run did: per-source accounts, the graph's size, and where outputs went."""

    accounts: dict[str, SourceAccount]
    graph: dict[str, object]
    outputs: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)
    #: what an incremental run imported and matched (not in ``to_dict``: a rerun that reuses
    #: earlier work writes the same report as a full rebuild)
    changes: Changes | None = None
    #: Files accepted with a repair during the import of this run (encoding guessed…).
    repairs: list[Repair] = field(default_factory=list)
    #: Files refused whole and skipped (``--on-bad-file skip``).
    rejected_files: list[RejectedFile] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The report as written to ``run_report.json`` (no timings: same input, same bytes)."""
        return {
            "sources": {k: a.to_dict() for k, a in sorted(self.accounts.items())},
            "graph": self.graph,
            "outputs": self.outputs,
            "repairs": [r.to_dict() for r in sorted(set(self.repairs))],
            "rejected_files": [f.to_dict() for f in sorted(set(self.rejected_files))],
        }

    def summary(self) -> str:
        """The readable end-of-run summary: accounts, main rejection reasons, graph, times."""
        lines = [f"{'source':<16}{'read':>8}{'published':>11}{'merged':>8}{'rejected':>10}"]
        for name, a in sorted(self.accounts.items()):
            reasons = sorted(a.rejected_by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
            shown = ", ".join(f"{r}: {n}" for r, n in reasons[:3])
            if len(reasons) > 3:
                shown += f", {len(reasons) - 3} more"
            line = f"{name:<16}{a.read:>8}{a.published:>11}{a.merged:>8}{a.rejected:>10}"
            lines.append(line + (f"  ({shown})" if shown else ""))
        g = self.graph
        unmentioned = list(g["drugs_without_mentions"])  # type: ignore[call-overload]
        lines.append(
            f"graph: {g['drugs']} drugs, {g['publications']} publications, "
            f"{g['journals']} journals, {g['drug_publication_edges']} mentions"
        )
        if unmentioned:
            names = ", ".join(unmentioned[:10]) + (" …" if len(unmentioned) > 10 else "")
            lines.append(f"drugs without any mention: {len(unmentioned)} ({names})")
        if self.changes is not None:
            lines.append(self.changes.summary())
        for rejected in sorted(set(self.rejected_files)):
            lines.append(f"skipped: {rejected.file}: {rejected.message}")
        for repair in sorted(set(self.repairs)):
            lines.append(f"repaired: {repair.file}: {repair.repair}")
        if self.seconds:
            total = sum(self.seconds.values())
            steps = ", ".join(f"{k} {v:.2f}s" for k, v in self.seconds.items())
            lines.append(f"time: {total:.2f}s ({steps})")
        lines.append(f"graph written to {self.outputs['graph']}")
        if any(a.rejected for a in self.accounts.values()):
            lines.append(f"rejected rows (with reasons) in {self.outputs['rejected_rows']}")
        return redact("\n".join(lines))
