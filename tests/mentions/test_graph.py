"""Graph building and its JSON: ids, journals, determinism, atomic writes."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import polars as pl
import pytest

from datapipeline.mentions import graph as graph_module
from datapipeline.mentions.graph import build_graph, journal_names, save_graph, write_graph
from datapipeline.mentions.matching import drug_patterns


def drugs(*names: str) -> pl.DataFrame:
    frame, _ = drug_patterns(
        pl.DataFrame({"name": list(names), "atccode": [f"ATC-{n}" for n in names]})
    )
    return frame


def pubs(*rows: tuple[str, str | None, str, str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "kind": [r[0] for r in rows],
            "source_id": [r[1] for r in rows],
            "title": [r[2] for r in rows],
            "date": [dt.date.fromisoformat(r[3]) for r in rows],
            "journal": [r[4] for r in rows],
            "_source_file": ["f.csv"] * len(rows),
            "_source_row": list(range(1, len(rows) + 1)),
        },
        schema={
            "kind": pl.String,
            "source_id": pl.String,
            "title": pl.String,
            "date": pl.Date,
            "journal": pl.String,
            "_source_file": pl.String,
            "_source_row": pl.Int64,
        },
    )


def document(tables: graph_module.GraphTables) -> dict:
    out = io.StringIO()
    write_graph(tables, out)
    return json.loads(out.getvalue())


def test_nodes_and_dated_edges() -> None:
    tables = build_graph(
        drugs("ETHANOL", "ATROPINE"),
        pubs(
            ("pubmed", "1", "Ethanol use", "2020-01-01", "J"),
            ("clinical_trials", "NCT1", "Ethanol trial", "2020-02-01", "J"),
        ),
    )
    doc = document(tables)
    assert [n["id"] for n in doc["nodes"]] == [
        "clinical_trial:NCT1",
        "drug:ATROPINE",
        "drug:ETHANOL",
        "journal:J",
        "pubmed:1",
    ]
    assert [(e["source"], e["target"], e["date"]) for e in doc["edges"]] == [
        ("drug:ETHANOL", "clinical_trial:NCT1", "2020-02-01"),
        ("drug:ETHANOL", "journal:J", "2020-01-01"),
        ("drug:ETHANOL", "journal:J", "2020-02-01"),
        ("drug:ETHANOL", "pubmed:1", "2020-01-01"),
    ]
    graph = nx.node_link_graph(doc)
    assert graph.nodes["pubmed:1"] == {
        "type": "pubmed",
        "source_id": "1",
        "title": "Ethanol use",
        "date": "2020-01-01",
        "journal": "J",
    }


def test_unmentioned_publications_are_left_out_but_every_drug_is_in() -> None:
    doc = document(
        build_graph(drugs("ETHANOL"), pubs(("pubmed", "1", "Nothing here", "2020-01-01", "J")))
    )
    assert [n["id"] for n in doc["nodes"]] == ["drug:ETHANOL"]
    assert doc["edges"] == []


def test_id_less_publication_gets_a_stable_content_id() -> None:
    first = build_graph(drugs("ETHANOL"), pubs(("pubmed", None, "Ethanol", "2020-01-01", "J")))
    again = build_graph(drugs("ETHANOL"), pubs(("pubmed", None, "ETHANOL", "2020-01-01", "K")))
    node_id = first.publications["id"][0]
    assert node_id.startswith("pubmed:~")
    assert again.publications["id"][0] == node_id  # title case and journal do not change it


def test_two_records_sharing_an_id_are_both_kept() -> None:
    tables = build_graph(
        drugs("ETHANOL"),
        pubs(
            ("pubmed", "1", "Ethanol a", "2020-01-01", "J"),
            ("pubmed", "1", "Ethanol b", "2020-01-01", "J"),
        ),
    )
    ids = tables.publications["id"].to_list()
    assert len(set(ids)) == 2
    assert all(i.startswith("pubmed:1~") for i in ids)


def test_journal_spellings_differing_by_case_are_one_journal() -> None:
    names = journal_names(
        pubs(
            ("pubmed", "1", "a", "2020-01-01", "The Lancet"),
            ("pubmed", "2", "b", "2020-01-01", "The Lancet"),
            ("pubmed", "3", "c", "2020-01-01", "The lancet"),
        )
    )
    assert set(names["journal_name"]) == {"The Lancet"}


def test_output_does_not_depend_on_input_order() -> None:
    rows = [
        ("pubmed", str(i), f"Ethanol {i} atropine", f"2020-01-{i % 28 + 1:02d}", f"J{i % 3}")
        for i in range(30)
    ]
    forward = document(build_graph(drugs("ETHANOL", "ATROPINE"), pubs(*rows)))
    backward = document(build_graph(drugs("ATROPINE", "ETHANOL"), pubs(*reversed(rows))))
    assert forward == backward


def test_save_is_atomic_when_writing_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "graph.json"
    path.write_text("old", encoding="utf-8")
    tables = build_graph(drugs("ETHANOL"), pubs(("pubmed", "1", "Ethanol", "2020-01-01", "J")))

    def broken(tables: object) -> Iterator[bytes]:
        yield b'{"partial": '
        raise RuntimeError("disk full")

    monkeypatch.setattr(graph_module, "render_graph", broken)
    with pytest.raises(RuntimeError):
        save_graph(tables, path)
    assert path.read_text(encoding="utf-8") == "old"
    assert list(tmp_path.iterdir()) == [path]
