"""The seed's ``Graph`` class, kept for its users: the same rules as the pipeline, in memory.

Records are added one by one or as tables; every query rebuilds the graph with
:func:`datapipeline.engines.local.build_mentions`, the function the pipeline calls, so the
class and ``datapipeline run`` cannot disagree. ``to_json`` returns the exact bytes ``run``
writes for the same rows.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from datapipeline.analysis.questions import GraphView, drugs_of_journal, journals, top_journals
from datapipeline.engines.local import build_mentions
from datapipeline.errors import GraphError, InputError
from datapipeline.extract.files import scalar_to_text
from datapipeline.mentions.assembly import write_graph
from datapipeline.schema import CLINICAL_TRIALS, DRUGS, PUBMED, SOURCE_FILE, SOURCE_ROW, SourceKind


def _records(table: Any) -> Iterable[Mapping[str, Any]]:
    """Rows of a Polars/pandas DataFrame, an Arrow table, or an iterable of mappings."""
    if isinstance(table, pl.DataFrame):
        return table.to_dicts()
    if hasattr(table, "to_pylist"):  # pyarrow.Table
        return list(table.to_pylist())
    if hasattr(table, "to_dict"):  # pandas.DataFrame
        return list(table.to_dict("records"))
    return list(table)


class Graph:
    """Drugs, PubMed articles and clinical trials, and the mention graph they make."""

    def __init__(self) -> None:
        self._rows: dict[str, list[dict[str, str | None]]] = {
            DRUGS.name: [],
            PUBMED.name: [],
            CLINICAL_TRIALS.name: [],
        }
        self._view: GraphView | None = None
        self._json: str | None = None

    # -- adding records -------------------------------------------------------------------
    def _add(self, kind: SourceKind, record: Mapping[str, Any]) -> None:
        clash = kind.column_clash([str(k) for k in record])
        if clash:
            raise InputError(f"{kind.name} record {dict(record)!r}: {clash}")
        found = kind.resolve_columns([str(k) for k in record])
        missing = [c for c in kind.required if c not in found]
        if missing:
            raise InputError(f"{kind.name} record {dict(record)!r}: missing field {missing[0]!r}")
        self._rows[kind.name].append(
            {c: scalar_to_text(record[found[c]]) if c in found else None for c in kind.columns}
        )
        self._view = None
        self._json = None

    def add_drug(self, drug: Mapping[str, Any]) -> None:
        """Add one drug: ``{"atccode": ..., "drug": ...}``."""
        self._add(DRUGS, drug)

    def add_drugs(self, df_drugs: Any) -> None:
        """Add drugs from a DataFrame (Polars or pandas), an Arrow table or mappings."""
        for record in _records(df_drugs):
            self._add(DRUGS, record)

    def add_pubmed(self, pubmed: Mapping[str, Any]) -> None:
        """Add one PubMed article: ``{"id", "title", "date", "journal"}``."""
        self._add(PUBMED, pubmed)

    def add_pubmeds(self, df_pubmeds: Any) -> None:
        """Add PubMed articles from a table or mappings."""
        for record in _records(df_pubmeds):
            self._add(PUBMED, record)

    def add_clinical_trial(self, clinical_trial: Mapping[str, Any]) -> None:
        """Add one clinical trial: ``{"id", "scientific_title", "date", "journal"}``."""
        self._add(CLINICAL_TRIALS, clinical_trial)

    def add_clinical_trials(self, df_clinical_trials: Any) -> None:
        """Add clinical trials from a table or mappings."""
        for record in _records(df_clinical_trials):
            self._add(CLINICAL_TRIALS, record)

    def from_json(self, json_graph: str | Mapping[str, Any]) -> Graph:
        """Replace the content with a graph written by ``to_json`` or ``datapipeline run``."""
        document = json.loads(json_graph) if isinstance(json_graph, str) else json_graph
        view = GraphView.from_document(dict(document))
        self.__init__()  # type: ignore[misc]
        for node in view.nodes.values():
            node_type = node.get("type")
            if node_type == "drug":
                self.add_drug({"atccode": node.get("atccode"), "drug": node["name"]})
            elif node_type in ("pubmed", "clinical_trial"):
                record = {
                    "id": node.get("source_id"),
                    "title": node["title"],
                    "date": node["date"],
                    "journal": node.get("journal"),
                }
                kind = PUBMED if node_type == "pubmed" else CLINICAL_TRIALS
                self._add(kind, record)
            elif node_type != "journal":
                raise GraphError(f"node {node.get('id')!r}: unknown type {node_type!r}")
        return self

    # -- the graph ------------------------------------------------------------------------
    def _frame(self, kind: SourceKind) -> pl.DataFrame:
        rows = self._rows[kind.name]
        schema = {
            **{c: pl.String for c in kind.columns},
            SOURCE_FILE: pl.String,
            SOURCE_ROW: pl.Int64,
        }
        return pl.DataFrame(
            [
                {**r, SOURCE_FILE: f"<Graph {kind.name}>", SOURCE_ROW: i}
                for i, r in enumerate(rows, 1)
            ],
            schema=schema,
        )

    def to_json(self) -> str:
        """The graph as node-link JSON, byte for byte what ``datapipeline run`` writes."""
        if self._json is None:
            result = build_mentions(
                self._frame(DRUGS),
                {
                    PUBMED.name: self._frame(PUBMED),
                    CLINICAL_TRIALS.name: self._frame(CLINICAL_TRIALS),
                },
            )
            out = io.StringIO()
            write_graph(result.graph, out)
            self._json = out.getvalue()
        return self._json

    def _graph_view(self) -> GraphView:
        if self._view is None:
            self._view = GraphView.from_document(json.loads(self.to_json()))
        return self._view

    def get_drugs_of_journal(self, journal: str) -> list[str]:
        """Names of the drugs ``journal`` mentions, sorted."""
        return drugs_of_journal(self._graph_view(), journal)

    def get_journals(self) -> list[str]:
        """Names of the journals that mention at least one drug, sorted."""
        return journals(self._graph_view())

    def get_journal_with_most_drugs(self) -> list[str]:
        """The journal(s) mentioning the most distinct drugs; several when tied."""
        return top_journals(self._graph_view())[1]
