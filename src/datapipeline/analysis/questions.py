"""Questions over a drug-mention graph in node-link form."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from datapipeline.analysis.graph_db import GraphDatabase, drug_key
from datapipeline.analysis.graph_json import document_parts
from datapipeline.errors import GraphError
from datapipeline.mentions.matching import normalize_for_matching
from datapipeline.suggest import drug_suggestion


@dataclass
class GraphView:
    """Indexes over a node-link graph document, built once per question session."""

    nodes: dict[str, dict[str, Any]]
    #: the document indexed (its node and edge objects)
    document: dict[str, Any] = field(default_factory=dict, repr=False)
    #: drug id -> publication ids it is mentioned in
    drug_publications: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: drug id -> journal ids that mention it
    drug_journals: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: normal form of each drug name → the drug's id (computed once, on first use)
    _drug_keys: dict[str, str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_document(cls, document: dict[str, Any], origin: str = "graph") -> GraphView:
        """Index ``document`` (as written by ``datapipeline run``)."""
        try:
            nodes = {n["id"]: n for n in document["nodes"]}
            edges = document.get("edges", document.get("links"))
            if edges is None:
                raise KeyError("edges")
            view = cls(nodes=nodes, document=document)
            for edge in edges:
                source, target = edge["source"], edge["target"]
                kind = nodes[target].get("type")
                if kind == "journal":
                    view.drug_journals[source].add(target)
                else:
                    view.drug_publications[source].add(target)
        except (KeyError, TypeError, AttributeError) as exc:
            raise GraphError(
                f"{origin}: not a drug-mention graph in node-link form (missing {exc})"
            ) from None
        return view

    def database(self) -> GraphDatabase:
        """The graph as SQL tables (a DuckDB database: close it)."""
        edges = self.document.get("edges", self.document.get("links", []))
        parts = [
            *document_parts("nodes", list(self.nodes.values())),
            *document_parts("edges", edges),
        ]
        return GraphDatabase.of_parts(parts, "graph", full=True)

    def of_type(self, node_type: str) -> list[dict[str, Any]]:
        """Nodes of one ``type``."""
        return [n for n in self.nodes.values() if n.get("type") == node_type]

    def find_drug(self, name: str) -> str:
        """The id of the drug named ``name``, compared as matching compares names (the first
        in node order when several are)."""
        if self._drug_keys is None:
            drugs = self.of_type("drug")
            names = pl.Series("name", [str(n.get("name")) for n in drugs], dtype=pl.String)
            keys = names.to_frame().select(normalize_for_matching(pl.col("name"))).to_series()
            found: dict[str, str] = {}
            for node, key in zip(drugs, keys.to_list(), strict=True):
                found.setdefault(key, str(node["id"]))
            self._drug_keys = found
        try:
            return self._drug_keys[drug_key(name)]
        except KeyError:
            suggestion = drug_suggestion(name, self)
            raise GraphError(f"drug {name!r} is not in the graph{suggestion}") from None


def load_graph(path: Path) -> GraphView:
    """Read and index ``graph.json``; a missing or malformed file is one clear error."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GraphError(f"{path}: graph file not found (run `datapipeline run` first)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GraphError(f"{path}: not a readable JSON graph ({exc})") from None
    except RecursionError:
        raise GraphError(f"{path}: not a drug-mention graph (nested too deep)") from None
    if not isinstance(document, dict):
        raise GraphError(f"{path}: not a drug-mention graph (expected a JSON object)")
    return GraphView.from_document(document, str(path))


def journals(view: GraphView) -> list[str]:
    """Names of the journals in the graph, sorted."""
    return sorted(n["name"] for n in view.of_type("journal"))


def drugs_of_journal(view: GraphView, journal: str) -> list[str]:
    """Names of the drugs a journal mentions, sorted."""
    journal_id = f"journal:{journal}"
    return sorted(view.nodes[d]["name"] for d, js in view.drug_journals.items() if journal_id in js)


def top_journals(view: GraphView) -> tuple[int, list[str]]:
    """The journal(s) mentioning the most distinct drugs: (count, names sorted), all ties."""
    counts: dict[str, int] = defaultdict(int)
    for journal_ids in view.drug_journals.values():
        for journal_id in journal_ids:
            counts[journal_id] += 1
    if not counts:
        return 0, []
    best = max(counts.values())
    return best, sorted(view.nodes[j]["name"] for j, c in counts.items() if c == best)


def related_drugs(view: GraphView, drug: str) -> tuple[str, list[str]]:
    """(drug name, other drugs mentioned in PubMed by the journals mentioning it in PubMed).

    Clinical trials count on neither side.
    """
    drug_id = view.find_drug(drug)

    def pubmed_journals(d: str) -> set[str]:
        return {
            view.nodes[p]["journal"]
            for p in view.drug_publications.get(d, ())
            if view.nodes[p].get("type") == "pubmed" and view.nodes[p].get("journal")
        }

    wanted = pubmed_journals(drug_id)
    related = sorted(
        view.nodes[other]["name"]
        for other in view.drug_publications
        if other != drug_id and pubmed_journals(other) & wanted
    )
    return str(view.nodes[drug_id]["name"]), related
