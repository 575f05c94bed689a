"""The seed's Graph class: same rules and bytes as the pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from datapipeline import Graph, jobs
from datapipeline.errors import InputError
from datapipeline.run import sources


@pytest.fixture
def graph() -> Graph:
    g = Graph()
    g.add_drugs(
        pl.DataFrame({"atccode": ["A", "B", "C"], "drug": ["ETHANOL", "ATROPINE", "TETRACYCLINE"]})
    )
    g.add_pubmeds(
        [
            {"id": 1, "title": "Ethanol and tetracycline", "date": "01/01/2020", "journal": "J"},
            {"id": "2", "title": "Atropine", "date": "2020-01-02", "journal": "K"},
        ]
    )
    g.add_clinical_trial(
        {"id": "NCT1", "scientific_title": "Atropine trial", "date": "1 May 2020", "journal": "J"}
    )
    return g


def test_queries(graph: Graph) -> None:
    assert graph.get_journals() == ["J", "K"]
    assert graph.get_drugs_of_journal("J") == ["ATROPINE", "ETHANOL", "TETRACYCLINE"]
    assert graph.get_journal_with_most_drugs() == ["J"]


def test_adding_invalidates_the_cached_graph(graph: Graph) -> None:
    assert graph.get_drugs_of_journal("K") == ["ATROPINE"]
    graph.add_pubmed({"id": 3, "title": "ethanol", "date": "2020-01-05", "journal": "K"})
    assert graph.get_drugs_of_journal("K") == ["ATROPINE", "ETHANOL"]


def test_json_round_trip(graph: Graph) -> None:
    text = graph.to_json()
    assert Graph().from_json(text).to_json() == text
    assert Graph().from_json(json.loads(text)).get_journals() == ["J", "K"]


def test_same_bytes_as_the_pipeline(tmp_path: Path) -> None:
    report = jobs.run(None, str(tmp_path / "lake"), tmp_path / "out")
    g = Graph()
    sample = sources.SAMPLE_DATA_DIR
    for batch_reader, adder in (
        ("drugs.csv", g.add_drugs),
        ("pubmed.csv", g.add_pubmeds),
        ("pubmed.json", g.add_pubmeds),
        ("clinical_trials.csv", g.add_clinical_trials),
    ):
        from datapipeline.extract import get_reader

        source_type = batch_reader.rsplit(".", 1)[1]
        for batch in get_reader(source_type)(str(sample / batch_reader)):
            adder(batch.to_pylist())
    assert g.to_json() == Path(report.outputs["graph"]).read_text(encoding="utf-8")


def test_record_without_required_field_is_refused() -> None:
    with pytest.raises(InputError, match="missing field 'title'"):
        Graph().add_pubmed({"id": 1, "date": "2020-01-01", "journal": "J"})
