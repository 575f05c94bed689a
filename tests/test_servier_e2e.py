"""Acceptance: the whole expected graph on the public test's four files, read in place."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import jsonschema
import networkx as nx
import pytest

from datapipeline import jobs
from datapipeline.cli import main

SCHEMA = Path(__file__).resolve().parents[1] / "src/datapipeline/schemas/graph.schema.json"

pytestmark = [pytest.mark.e2e, pytest.mark.shared]

# Worked out by hand from the four files: drug -> (publication, date) for every mention.
EXPECTED_MENTIONS = {
    ("DIPHENHYDRAMINE", "pubmed", "1", "2019-01-01"),
    ("DIPHENHYDRAMINE", "pubmed", "2", "2019-01-01"),
    ("DIPHENHYDRAMINE", "pubmed", "3", "2019-01-02"),
    ("TETRACYCLINE", "pubmed", "4", "2020-01-01"),
    ("TETRACYCLINE", "pubmed", "5", "2020-01-02"),
    ("TETRACYCLINE", "pubmed", "6", "2020-01-01"),
    ("ETHANOL", "pubmed", "6", "2020-01-01"),
    ("EPINEPHRINE", "pubmed", "7", "2020-02-01"),
    ("EPINEPHRINE", "pubmed", "8", "2020-03-01"),
    ("ISOPRENALINE", "pubmed", "9", "2020-01-01"),
    ("BETAMETHASONE", "pubmed", "10", "2020-01-01"),
    ("BETAMETHASONE", "pubmed", "11", "2020-01-01"),
    ("BETAMETHASONE", "pubmed", None, "2020-03-01"),
    ("ATROPINE", "pubmed", None, "2020-03-01"),
    ("DIPHENHYDRAMINE", "clinical_trial", "NCT01967433", "2020-01-01"),
    ("DIPHENHYDRAMINE", "clinical_trial", "NCT04189588", "2020-01-01"),
    ("DIPHENHYDRAMINE", "clinical_trial", "NCT04237091", "2020-01-01"),
    ("BETAMETHASONE", "clinical_trial", "NCT04153396", "2020-01-01"),
    ("EPINEPHRINE", "clinical_trial", "NCT04188184", "2020-04-27"),
}


@pytest.fixture(scope="module")
def graph_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from tests.conftest import shared_path

    data = shared_path("reference-data", "servier-test")
    out = tmp_path_factory.mktemp("out")
    jobs.run(data, str(out / "lake"), out / "processed")
    graph_file = out / "processed" / "graph.json"
    return graph_file, json.loads(graph_file.read_text(encoding="utf-8"))


def test_every_mention_with_its_date(graph_run: tuple[Path, dict]) -> None:
    _, document = graph_run
    nodes = {n["id"]: n for n in document["nodes"]}
    mentions = {
        (
            nodes[e["source"]]["name"],
            nodes[e["target"]]["type"],
            nodes[e["target"]]["source_id"],
            e["date"],
        )
        for e in document["edges"]
        if nodes[e["target"]]["type"] != "journal"
    }
    assert mentions == EXPECTED_MENTIONS
    kinds = Counter(kind for _, kind, _, _ in mentions)
    assert kinds == {"pubmed": 14, "clinical_trial": 5}


def test_publication_dates_are_iso(graph_run: tuple[Path, dict]) -> None:
    nodes = {n["id"]: n for n in graph_run[1]["nodes"]}
    assert nodes["pubmed:3"]["date"] == "2019-01-02"
    assert nodes["clinical_trial:NCT04188184"]["date"] == "2020-04-27"
    assert nodes["clinical_trial:NCT04188184"]["journal"] == "Journal of emergency nursing"


def test_duplicate_trial_is_one_node_with_coalesced_fields(graph_run: tuple[Path, dict]) -> None:
    report = json.loads((graph_run[0].parent / "run_report.json").read_text())
    assert report["sources"]["clinical_trials"] == {
        "read": 8,
        "published": 6,
        "merged": 1,
        "rejected": 1,
        "rejected_by_reason": {"missing_title": 1},
    }
    assert report["sources"]["pubmed"]["rejected_by_reason"] == {"blank_row": 1}
    for account in report["sources"].values():
        assert account["read"] == account["published"] + account["merged"] + account["rejected"]


def test_graph_is_valid_node_link_json_matching_its_schema(graph_run: tuple[Path, dict]) -> None:
    _, document = graph_run
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    graph = nx.node_link_graph(document)
    assert graph.is_multigraph()
    assert graph.is_directed()
    assert (
        graph.number_of_edges("drug:DIPHENHYDRAMINE", "journal:Journal of emergency nursing") == 2
    )
    assert {d["type"] for _, d in graph.nodes(data=True)} == {
        "drug",
        "pubmed",
        "clinical_trial",
        "journal",
    }


def test_accents_kept_and_broken_escapes_dropped(graph_run: tuple[Path, dict]) -> None:
    names = {n["name"] for n in graph_run[1]["nodes"] if n["type"] == "journal"}
    assert "Hôpitaux Universitaires de Genève" in names
    assert not any("\\x" in n or n.endswith("(") for n in names)


def test_same_input_same_bytes(graph_run: tuple[Path, dict], tmp_path: Path) -> None:
    from tests.conftest import shared_path

    jobs.run(shared_path("reference-data", "servier-test"), str(tmp_path / "lake"), tmp_path / "o")
    assert (tmp_path / "o" / "graph.json").read_bytes() == graph_run[0].read_bytes()


def test_top_journals_is_a_three_way_tie(
    graph_run: tuple[Path, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["top-journals", str(graph_run[0]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "count": 2,
        "journals": [
            "Journal of emergency nursing",
            "Psychopharmacology",
            "The journal of maternal-fetal & neonatal medicine",
        ],
    }


def test_related_drugs_of_ethanol(
    graph_run: tuple[Path, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["related-drugs", str(graph_run[0]), "ethanol", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"drug": "ETHANOL", "related": ["TETRACYCLINE"]}
