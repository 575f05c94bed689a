"""The data the page draws: counts, sampling past the threshold, escaping, top journals."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from datapipeline.analysis import GraphView, load_graph
from datapipeline.visual import prepare, render_html, script_json, write_html


def document(
    drugs: list[str],
    pubs: list[tuple[str, str, str, str, list[str]]],
) -> dict[str, Any]:
    """A node-link graph: ``pubs`` are (id, title, date, journal, drugs it mentions)."""
    nodes: list[dict[str, Any]] = [
        {"id": f"drug:{d}", "type": "drug", "name": d, "atccode": "X"} for d in drugs
    ]
    edges: list[dict[str, Any]] = []
    journal_edges: set[tuple[str, str, str]] = set()
    for pub_id, title, date, journal, named in pubs:
        kind = "clinical_trial" if pub_id.startswith("NCT") else "pubmed"
        node_id = f"{kind}:{pub_id}"
        nodes.append(
            {
                "id": node_id,
                "type": kind,
                "source_id": pub_id,
                "title": title,
                "date": date,
                "journal": journal,
            }
        )
        for drug in named:
            edges.append({"source": f"drug:{drug}", "target": node_id, "key": date, "date": date})
            journal_edges.add((f"drug:{drug}", f"journal:{journal}", date))
    for journal in sorted({p[3] for p in pubs}):
        nodes.append({"id": f"journal:{journal}", "type": "journal", "name": journal})
    edges += [{"source": s, "target": t, "key": d, "date": d} for s, t, d in sorted(journal_edges)]
    return {"directed": True, "multigraph": True, "graph": {}, "nodes": nodes, "edges": edges}


def big_document() -> dict[str, Any]:
    """3 drugs, 2 journals, 60 PubMed articles: A is named by 40, B by 15, C by 5."""
    pubs = []
    for i in range(60):
        drug = "A" if i < 40 else "B" if i < 55 else "C"
        date = f"2020-{1 + i % 12:02d}-{1 + i // 12:02d}"
        pubs.append((str(i), f"title {i}", date, "J1" if i % 2 else "J2", [drug]))
    return document(["A", "B", "C"], pubs)


def by_id(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in payload["nodes"]}


def test_small_graph_is_drawn_whole(small_graph: Path, expected: dict[str, Any]) -> None:
    KNOWN_PUBLICATION = expected["publication"]
    PUBMED_DATES, TRIAL_DATES = expected["pubmed_dates"], expected["trial_dates"]
    payload = prepare(small_graph)
    nodes = by_id(payload)
    assert payload["meta"]["reduced"] is None
    kinds = [n["kind"] for n in payload["nodes"]]
    assert kinds.count("drug") == 4
    assert kinds.count("pubmed") == len(PUBMED_DATES)
    assert kinds.count("clinical_trial") == len(TRIAL_DATES)
    assert kinds.count("journal") == 3
    pub = nodes[KNOWN_PUBLICATION["id"]]
    assert pub["label"] == KNOWN_PUBLICATION["title"]
    assert pub["date"] == KNOWN_PUBLICATION["date"]
    assert pub["journal"] == KNOWN_PUBLICATION["journal"]
    assert pub["source_id"] == KNOWN_PUBLICATION["source_id"]
    assert pub["drug_names"] == ["TETRACYCLINE"]
    assert payload["meta"]["date_min"] == min(PUBMED_DATES + TRIAL_DATES)
    assert payload["meta"]["date_max"] == max(PUBMED_DATES + TRIAL_DATES)
    # DIPHENHYDRAMINE: PubMed 1 and 4, trial NCT01, one journal
    diph = nodes["drug:DIPHENHYDRAMINE"]
    assert (diph["pubmed"], diph["trials"], diph["journals"]) == (2, 1, 1)
    assert nodes["drug:BETAMETHASONE"]["pubmed"] == 0


def test_edges_index_nodes_and_carry_dates(small_graph: Path) -> None:
    payload = prepare(small_graph)
    ids = [n["id"] for n in payload["nodes"]]
    pairs = {(ids[s], ids[t]): dates for s, t, dates in payload["edges"]}
    assert pairs[("drug:TETRACYCLINE", "pubmed:3")] == ["2020-01-01"]
    # one drug→journal edge per pair, listing the distinct dates of its mentions, sorted
    assert pairs[("drug:DIPHENHYDRAMINE", "journal:Journal of emergency nursing")] == [
        "2019-01-01",
        "2020-01-01",
        "2020-05-15",
    ]
    assert all(ids[s].startswith("drug:") for s, _, _ in payload["edges"])


def test_top_journals_are_flagged(small_graph: Path, expected: dict[str, Any]) -> None:
    TOP_JOURNALS = expected["top_journals"]
    payload = prepare(small_graph)
    flagged = sorted(n["label"] for n in payload["nodes"] if n.get("top"))
    assert flagged == TOP_JOURNALS
    assert payload["meta"]["top_journals"] == {"count": 2, "names": TOP_JOURNALS}
    assert not by_id(payload)["journal:Journal of food protection"].get("top")


def test_past_the_threshold_publications_are_sampled_and_counts_kept() -> None:
    view = GraphView.from_document(big_document())
    payload = prepare(view, max_nodes=20)
    nodes = by_id(payload)
    kinds = [n["kind"] for n in payload["nodes"]]
    assert len(payload["nodes"]) == 20
    assert kinds.count("drug") == 3
    assert kinds.count("journal") == 2
    assert kinds.count("pubmed") == 15
    reduced = payload["meta"]["reduced"]
    assert reduced["total_nodes"] == 65
    assert reduced["total_publications"] == 60
    assert reduced["shown_publications"] == 15
    # counts on drugs and journals still cover the whole graph
    assert (nodes["drug:A"]["pubmed"], nodes["drug:B"]["pubmed"], nodes["drug:C"]["pubmed"]) == (
        40,
        15,
        5,
    )
    assert nodes["journal:J1"]["pubs"] == 30
    # drugs take turns: C (5 articles) keeps all 5, A and B five each, their most recent
    for drug, first, last in (("A", 0, 40), ("B", 40, 55), ("C", 55, 60)):
        dates = sorted(big_document()["nodes"][3 + i]["date"] for i in range(first, last))
        kept = sorted(n["date"] for n in payload["nodes"] if n.get("drug_names") == [drug])
        assert kept == dates[-5:], drug
    # every edge joins two drawn nodes
    assert all(s < 20 and t < 20 for s, t, _ in payload["edges"])


def test_when_drugs_and_journals_fill_the_budget_no_publication_is_drawn() -> None:
    payload = prepare(GraphView.from_document(big_document()), max_nodes=4)
    kinds = [n["kind"] for n in payload["nodes"]]
    assert kinds == ["drug", "drug", "drug", "journal"]
    assert payload["meta"]["reduced"]["shown_publications"] == 0


def page_data(page: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page, re.S)
    assert match
    return json.loads(match.group(1))


def test_titles_cannot_close_the_script_element() -> None:
    evil = 'Aspirin </script><script>alert("x")</script> <!-- & </SCRIPT >'
    view = GraphView.from_document(
        document(["ASPIRIN"], [("7", evil, "2020-01-01", "J </script>", ["ASPIRIN"])])
    )
    page = render_html(view)
    # only the page's own two script elements close
    assert page.lower().count("</script") == 2
    assert "<!--" not in page
    data = page_data(page)
    assert by_id(data)["pubmed:7"]["label"] == evil
    assert by_id(data)["pubmed:7"]["journal"] == "J </script>"
    # the escapes are JSON string escapes
    assert json.loads(script_json({"t": "</script>"})) == {"t": "</script>"}


def test_page_is_self_contained_and_deterministic(small_graph: Path, tmp_path: Path) -> None:
    page = render_html(small_graph)
    assert page == render_html(load_graph(small_graph))
    assert not re.search(r"https?:", page)
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=", page, re.I)
    assert "Content-Security-Policy" in page
    assert "/*__SCRIPT__*/" not in page
    assert "__DATA__" not in page
    out = write_html(tmp_path / "site" / "graph.html", small_graph)
    assert out.read_text(encoding="utf-8") == page
    assert sorted(p.name for p in out.parent.iterdir()) == ["graph.html"]


def test_a_missing_graph_is_one_clear_error(tmp_path: Path) -> None:
    from datapipeline.errors import GraphError

    with pytest.raises(GraphError, match="graph file not found"):
        render_html(tmp_path / "nope.json")
