"""Did you mean …: the closest known names, and the drug-name hook of the graph questions."""

from __future__ import annotations

import pytest

from datapipeline.analysis import GraphView, related_drugs
from datapipeline.errors import GraphError
from datapipeline.suggest import closest, did_you_mean


def test_a_typo_finds_the_intended_name() -> None:
    assert closest("rnu", ["run", "import", "process", "show"]) == ["run"]
    assert closest("DirectRuner", ["DirectRunner", "DataflowRunner", "FnApiRunner"]) == [
        "DirectRunner"
    ]
    assert closest("sourc_type", ["source_id", "source_type", "source", "dest_table"]) == [
        "source_type"
    ]


def test_names_are_compared_ignoring_case_and_keep_their_own_spelling() -> None:
    assert closest("ethanl", ["ETHANOL", "ATROPINE"]) == ["ETHANOL"]


def test_equally_close_names_are_all_offered_best_first() -> None:
    assert closest("query_3", ["query_1", "query_2", "sales"]) == ["query_1", "query_2"]
    assert did_you_mean("query_3", ["query_1", "query_2"]) == (
        "; did you mean 'query_1' or 'query_2'?"
    )


def test_nothing_alike_offers_nothing() -> None:
    assert closest("xyz", ["ETHANOL", "ATROPINE"]) == []
    assert did_you_mean("xyz", ["ETHANOL", "ATROPINE"]) == ""


def _graph() -> GraphView:
    return GraphView.from_document(
        {
            "nodes": [
                {"id": "drug:ETHANOL", "type": "drug", "name": "ETHANOL"},
                {"id": "drug:ATROPINE", "type": "drug", "name": "ATROPINE"},
                {"id": "journal:J", "type": "journal", "name": "J"},
            ],
            "edges": [{"source": "drug:ETHANOL", "target": "journal:J"}],
        }
    )


def test_an_unknown_drug_suggests_the_close_names_of_the_graph() -> None:
    with pytest.raises(GraphError) as error:
        related_drugs(_graph(), "Ethanl")
    assert str(error.value) == "drug 'Ethanl' is not in the graph; did you mean 'ETHANOL'?"


def test_an_unknown_drug_with_no_close_name_says_only_that() -> None:
    with pytest.raises(GraphError) as error:
        related_drugs(_graph(), "paracetamol")
    assert str(error.value) == "drug 'paracetamol' is not in the graph"
