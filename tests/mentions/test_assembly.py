"""Graph building and its JSON: ids, journals, determinism, atomic writes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import pickle
import random
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import polars as pl
import pytest

from datapipeline.kernels import node_link
from datapipeline.kernels.node_link import EdgeCodes, render_node_link
from datapipeline.mentions import assembly
from datapipeline.mentions.assembly import (
    MENTIONED_SCHEMA,
    GraphTables,
    build_graph,
    graph_from_mentioned,
    render_graph,
    save_graph,
    write_graph,
)
from datapipeline.mentions.matching import drug_patterns
from datapipeline.mentions.nodes import journal_names


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


def document(tables: GraphTables) -> dict:
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

    monkeypatch.setattr(assembly, "render_graph", broken)
    with pytest.raises(RuntimeError):
        save_graph(tables, path)
    assert path.read_text(encoding="utf-8") == "old"
    assert list(tmp_path.iterdir()) == [path]


# --- graph_from_mentioned and the renderer against a plain reference -------------------------
#
# The reference sorts the strings themselves and JSON-encodes whole rows (what the first version
# of the module did); the module ranks the strings and sorts integers, and writes lines from
# pieces. Both must give the same bytes, whatever the strings hold.

TRICKY = [
    "a",
    "Z",
    "10",
    "9",
    'q"uote',
    "back\\slash",
    "new\nline",
    "tab\t",
    "\x01ctl",
    "é",
    "日本",
]


def mentioned_rows(seed: int, *, plain: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Drug nodes and mention rows (several per publication, shuffled) with awkward strings."""
    rng = random.Random(seed)
    words = [*TRICKY[:4], "x-y", "long title words"] if plain else TRICKY
    names = sorted({rng.choice(words) + rng.choice(["", "1", "B"]) for _ in range(12)})
    drug_table = pl.DataFrame(
        {
            "id": [f"drug:{n}" for n in names],
            "type": "drug",
            "name": names,
            "atccode": [None if i % 3 == 0 else f"ATC{i}" for i in range(len(names))],
            "pattern": names,
        }
    )
    dates = [dt.date(2020, 1, 1), dt.date(2020, 1, 2), dt.date(999, 12, 31), dt.date(1000, 1, 1)]
    journals = [rng.choice(words) for _ in range(4)] + [None]
    rows = []
    for i in range(80):
        kind = rng.choice(["pubmed", "clinical_trial"])
        source_id = f"{rng.choice(words)}{i}" if i % 7 else None
        node_id = f"{kind}:{source_id}" if source_id is not None else f"{kind}:~{i:03d}"
        pub = {
            "id": node_id,
            "type": kind,
            "source_id": source_id,
            "title": " ".join(rng.choice(words) for _ in range(3)),
            "date": None if (i == 5 and not plain) else rng.choice(dates),
            "journal_name": rng.choice(journals),
        }
        for drug in rng.sample(drug_table["id"].to_list(), rng.randint(1, 3)):
            rows.append({**pub, "drug_id": drug})
    rng.shuffle(rows)
    return drug_table, pl.DataFrame(rows, schema=MENTIONED_SCHEMA)


def reference_json(drug_table: pl.DataFrame, mentioned: pl.DataFrame) -> bytes:
    def lines(frame: pl.DataFrame) -> list[str]:
        return frame.select(pl.struct(pl.all()).struct.json_encode()).to_series().to_list()

    date = pl.col("date").dt.to_string("%Y-%m-%d")
    journal = pl.concat_str(pl.lit("journal:"), pl.col("journal_name"))
    with_journal = mentioned.filter(pl.col("journal_name").is_not_null())
    edges = (
        pl.concat(
            [
                mentioned.select(
                    pl.col("drug_id").alias("source"), pl.col("id").alias("target"), date
                ),
                with_journal.select(
                    pl.col("drug_id").alias("source"), journal.alias("target"), date
                ).unique(),
            ]
        )
        .select("source", "target", pl.col("date").alias("key"), "date")
        .sort("source", "target", "key")
    )
    pubs = mentioned.unique("id").select(
        "id", "type", "source_id", "title", date, pl.col("journal_name").alias("journal")
    )
    journals = with_journal.select(
        journal.alias("id"), pl.lit("journal").alias("type"), pl.col("journal_name").alias("name")
    ).unique("id")
    nodes = [
        (node_id, line)
        for frame in [pubs, drug_table.drop("pattern"), journals]
        for node_id, line in zip(frame["id"], lines(frame), strict=True)
    ]
    node_lines = [line for _, line in sorted(nodes)]  # str order is UTF-8 byte order
    text = (
        '{"directed":true,"multigraph":true,"graph":{"name":"drug_mentions","schema_version":1}'
        + ',"nodes":[\n'
        + ",\n".join(node_lines)
        + '\n],"edges":[\n'
        + ",\n".join(lines(edges))
        + "\n]}\n"
    )
    return text.encode()


def rendered(tables: GraphTables) -> bytes:
    return b"".join(render_graph(tables))


@pytest.mark.parametrize("plain", [True, False], ids=["plain", "escaped"])
@pytest.mark.parametrize("seed", range(4))
def test_graph_json_is_the_reference_bytes(seed: int, plain: bool) -> None:
    drug_table, mentioned = mentioned_rows(seed, plain=plain)
    tables = graph_from_mentioned(drug_table, mentioned)
    assert rendered(tables) == reference_json(drug_table, mentioned)
    # the edges table (what the run report counts) holds the same edges as the file
    edges = json.loads(rendered(tables))["edges"]
    assert tables.edges.frame().rows() == [
        (e["source"], e["target"], e["key"], e["date"]) for e in edges
    ]


@pytest.mark.parametrize(
    "change",
    [
        pl.col("journal_name").is_null(),  # (a filter) no journal at all
        pl.col("type") == "pubmed",  # one kind of publication
        pl.col("id") == pl.col("id").min(),  # one publication
    ],
    ids=["no-journal", "one-kind", "one-publication"],
)
def test_graph_json_is_the_reference_bytes_for_degenerate_inputs(change: pl.Expr) -> None:
    drug_table, mentioned = mentioned_rows(5, plain=False)
    mentioned = mentioned.filter(change)
    assert not mentioned.is_empty()
    tables = graph_from_mentioned(drug_table, mentioned)
    assert rendered(tables) == reference_json(drug_table, mentioned)


def test_keys_too_wide_to_pack_sort_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    drug_table, mentioned = mentioned_rows(7, plain=False)
    packed = rendered(graph_from_mentioned(drug_table, mentioned))
    monkeypatch.setattr(assembly, "PACKED_KEY_BITS", 0)
    assert rendered(graph_from_mentioned(drug_table, mentioned)) == packed


def test_edges_given_as_a_frame_are_written_the_same() -> None:
    drug_table, mentioned = mentioned_rows(3, plain=False)
    tables = graph_from_mentioned(drug_table, mentioned)
    frame = tables.edges.frame()
    as_frame = b"".join(render_node_link([], [frame]))
    as_codes = b"".join(render_node_link([], [tables.edges]))
    recoded = b"".join(render_node_link([], [EdgeCodes.of_frame(frame)]))
    assert as_frame == as_codes == recoded
    assert rendered(dataclasses.replace(tables, edges=EdgeCodes.of_frame(frame))) == rendered(
        tables
    )


def test_tables_survive_pickling() -> None:
    drug_table, mentioned = mentioned_rows(1, plain=True)
    tables = graph_from_mentioned(drug_table, mentioned)
    assert rendered(pickle.loads(pickle.dumps(tables))) == rendered(tables)


def test_chunks_are_rendered_as_they_come(monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller can feed nodes and edges bucket by bucket: same bytes, chunks pulled lazily,
    the edge tables encoded once for all buckets."""
    made = []
    edge_pieces = node_link._edge_pieces

    def counted(*tables: pl.Series) -> tuple[pl.Series, int, int]:
        made.append(1)
        return edge_pieces(*tables)

    monkeypatch.setattr(node_link, "_edge_pieces", counted)
    drug_table, mentioned = mentioned_rows(2, plain=True)
    tables = graph_from_mentioned(drug_table, mentioned)
    expected = reference_json(drug_table, mentioned)
    coded = tables.edges
    monkeypatch.setattr(node_link, "ENCODE_CHUNK", 4)
    pulled: list[int] = []

    def nodes() -> Iterator[pl.DataFrame]:
        pubs = tables.publications
        kinds = [
            pubs.filter(pl.col("type") == "clinical_trial"),
            tables.drugs,
            tables.journals,
            pubs.filter(pl.col("type") == "pubmed"),
        ]
        for frame in kinds:
            for start in range(0, frame.height, 3):
                pulled.append(start)
                yield frame.slice(start, 3)

    def edges() -> Iterator[EdgeCodes]:
        source = pl.col("source")
        for low in range(0, coded.sources.len(), 5):
            yield coded.with_codes(coded.codes.filter((source >= low) & (source < low + 5)))

    pieces = render_node_link(nodes(), edges())
    head = [bytes(next(pieces)) for _ in range(2)]
    assert len(pulled) <= node_link.ENCODE_AHEAD + 2 < tables.publications.height // 3
    assert b"".join(head) + b"".join(pieces) == expected
    assert len(made) == 1
