"""The two questions, from every form of a graph, against a plain-Python statement of them.

The oracle reads graph.json with ``json.load`` and states each question's rule in plain
Python; the answers under test come from the Parquet tables (beside graph.json, in its
folder, in the lake), from graph.json streamed in the pipeline's layout and in other layouts
(networkx's one-line dump with ``links``, indented), and from the in-memory ``GraphView``.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from datapipeline import jobs
from datapipeline.analysis import GraphView, open_graph, related_drugs, top_journals
from datapipeline.cli import main
from datapipeline.errors import GraphError
from datapipeline.mentions.parquet_graph import table_paths
from tests.conftest import shared_path
from tests.datagen import write_corpus, write_quirks
from tests.mentions.test_parquet_graph import plain_normal


def oracle_top(document: dict[str, Any]) -> tuple[int, list[str]]:
    """Journals with the most distinct drugs (edges to a journal node), every tie."""
    nodes = {n["id"]: n for n in document["nodes"]}
    drugs: dict[str, set[str]] = defaultdict(set)
    for edge in document.get("edges", document.get("links")):
        if nodes[edge["target"]]["type"] == "journal":
            drugs[edge["target"]].add(edge["source"])
    if not drugs:
        return 0, []
    best = max(len(d) for d in drugs.values())
    return best, sorted(nodes[j]["name"] for j, d in drugs.items() if len(d) == best)


def oracle_related(document: dict[str, Any], name: str) -> tuple[str, list[str]]:
    """Drugs sharing a journal with ``name`` through PubMed articles only."""
    nodes = {n["id"]: n for n in document["nodes"]}
    wanted = [
        n
        for n in document["nodes"]
        if n["type"] == "drug" and plain_normal(n["name"]) == plain_normal(name)
    ]
    if not wanted:
        raise LookupError(name)
    journals: dict[str, set[str]] = defaultdict(set)
    for edge in document.get("edges", document.get("links")):
        target = nodes[edge["target"]]
        if target["type"] == "pubmed" and target.get("journal"):
            journals[edge["source"]].add(target["journal"])
    drug = wanted[0]["id"]
    mine = journals.get(drug, set())
    related = sorted(nodes[d]["name"] for d, js in journals.items() if d != drug and js & mine)
    return nodes[drug]["name"], related


def forms(graph_json: Path, lake: Path, tmp_path: Path) -> dict[str, Path]:
    """The same graph as every path the questions accept."""
    document = json.loads(graph_json.read_text(encoding="utf-8"))
    alone = tmp_path / "alone" / "graph.json"
    alone.parent.mkdir()
    shutil.copy(graph_json, alone)
    networkx_dump = tmp_path / "networkx.json"
    links = {**{k: v for k, v in document.items() if k != "edges"}, "links": document["edges"]}
    networkx_dump.write_text(json.dumps(links), encoding="utf-8")
    reordered = tmp_path / "reordered.json"
    reordered.write_text(
        json.dumps({"links": document["edges"], "graph": {}, "nodes": document["nodes"]}, indent=1),
        encoding="utf-8",
    )
    return {
        "tables beside graph.json": graph_json,
        "the output folder": graph_json.parent,
        "the lake": lake,
        "one table file": table_paths(graph_json)["edges"],
        "graph.json alone": alone,
        "networkx dump": networkx_dump,
        "indented, links first": reordered,
    }


def spellings(name: str) -> list[str]:
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return [name, name.lower(), name.upper(), bare.lower(), f"  {bare.title()} "]


def check_every_form(graph_json: Path, lake: Path, tmp_path: Path) -> None:
    document = json.loads(graph_json.read_text(encoding="utf-8"))
    drug_names = [n["name"] for n in document["nodes"] if n["type"] == "drug"]
    expected_top = oracle_top(document)
    expected_related = {name: oracle_related(document, name) for name in drug_names}
    view = GraphView.from_document(document)
    assert top_journals(view) == expected_top
    for label, path in forms(graph_json, lake, tmp_path).items():
        with open_graph(path) as graph:
            assert graph.top_journals() == expected_top, label
            for name in drug_names:
                for spelling in spellings(name):
                    assert graph.related_drugs(spelling) == expected_related[name], (
                        label,
                        spelling,
                    )
                    assert related_drugs(view, spelling) == expected_related[name]
            with pytest.raises(GraphError, match="not in the graph"):
                graph.related_drugs("no such drug")


def test_generated_corpus(tmp_path: Path) -> None:
    data = write_corpus(tmp_path / "data", titles=2500, files=3)
    jobs.run(data, str(tmp_path / "lake"), tmp_path / "out", engine="local")
    check_every_form(tmp_path / "out" / "graph.json", tmp_path / "lake", tmp_path)


def test_quirks(tmp_path: Path) -> None:
    data = write_quirks(tmp_path / "data")
    jobs.run(data, str(tmp_path / "lake"), tmp_path / "out", engine="stream")
    check_every_form(tmp_path / "out" / "graph.json", tmp_path / "lake", tmp_path)


def test_reference_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = shared_path("reference-data", "servier-test")
    jobs.run(reference, str(tmp_path / "lake"), tmp_path / "out", engine="local")
    graph = tmp_path / "out" / "graph.json"
    check_every_form(graph, tmp_path / "lake", tmp_path)
    # ETHANOL is in Psychopharmacology (PubMed 6), where TETRACYCLINE is too (PubMed 5): found
    # with an accent and in lower case (the top journals are checked in test_servier_e2e)
    assert main(["related-drugs", str(graph), "éthanol", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"drug": "ETHANOL", "related": ["TETRACYCLINE"]}


def document(pubs: list[tuple[str, str, list[str]]]) -> dict[str, Any]:
    """A graph of ``pubs`` (node id, journal, drugs it names), written as the pipeline writes."""
    drugs = sorted({d for _, _, named in pubs for d in named} | {"LONELY"})
    nodes: list[dict[str, Any]] = [
        {"id": f"drug:{d}", "type": "drug", "name": d, "atccode": "X"} for d in drugs
    ]
    edges = []
    for pub_id, journal, named in pubs:
        kind = pub_id.split(":")[0]
        nodes.append(
            {
                "id": pub_id,
                "type": kind,
                "source_id": pub_id,
                "title": "t",
                "date": "2020-01-01",
                "journal": journal,
            }
        )
        for drug in named:
            edges.append(
                {
                    "source": f"drug:{drug}",
                    "target": pub_id,
                    "key": "2020-01-01",
                    "date": "2020-01-01",
                }
            )
            edges.append(
                {
                    "source": f"drug:{drug}",
                    "target": f"journal:{journal}",
                    "key": "2020-01-01",
                    "date": "2020-01-01",
                }
            )
    for journal in sorted({j for _, j, _ in pubs}):
        nodes.append({"id": f"journal:{journal}", "type": "journal", "name": journal})
    unique = {json.dumps(e, sort_keys=True): e for e in edges}
    return {
        "directed": True,
        "multigraph": True,
        "graph": {},
        "nodes": nodes,
        "edges": list(unique.values()),
    }


def test_ties_and_clinical_trials(tmp_path: Path) -> None:
    doc = document(
        [
            ("pubmed:1", "J1", ["A", "B"]),
            ("pubmed:2", "J2", ["C"]),
            ("clinical_trial:NCT1", "J2", ["D"]),  # J2: two drugs, one through a trial
            ("clinical_trial:NCT2", "J3", ["A", "E"]),  # A and E share J3 only in a trial
            ("pubmed:3", "J4", ["ÉTHER", "C"]),
        ]
    )
    path = tmp_path / "g.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with open_graph(path) as graph:
        assert graph.top_journals() == (2, ["J1", "J2", "J3", "J4"])
        assert graph.related_drugs("a") == ("A", ["B"])
        assert graph.related_drugs("d") == ("D", [])
        assert graph.related_drugs("e") == ("E", [])
        assert graph.related_drugs("ether") == ("ÉTHER", ["C"])
        assert graph.related_drugs("lonely") == ("LONELY", [])
        assert graph.related_drugs("C") == ("C", ["ÉTHER"])


def test_no_journal_no_answer(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text(json.dumps(document([])), encoding="utf-8")
    with open_graph(path) as graph:
        assert graph.top_journals() == (0, [])


def test_tables_of_another_graph_json_are_not_used(tmp_path: Path) -> None:
    first = write_corpus(tmp_path / "a", titles=800, files=1, seed=1)
    jobs.run(first, str(tmp_path / "lake"), tmp_path / "out", engine="local")
    # graph.json replaced by another graph (a crash between the renames, a copy by hand…)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(document([("pubmed:1", "Only journal", ["X", "Y"])])))
    shutil.copy(other, tmp_path / "out" / "graph.json")
    for given in (tmp_path / "out" / "graph.json", tmp_path / "out"):
        with open_graph(given) as graph:
            assert graph.top_journals() == (2, ["Only journal"])
