"""The graph's Parquet tables: what graph.json holds, the same bytes from every engine, atomic."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest

from datapipeline import jobs
from datapipeline.engines import RunRequest
from datapipeline.engines.stream import run_stream
from datapipeline.lake import Lake
from datapipeline.mentions import parquet_graph
from datapipeline.mentions.parquet_graph import ParquetGraphWriter, table_paths
from datapipeline.warehouse.duckdb_backend import DuckDBWarehouse
from tests.conftest import shared_path
from tests.datagen import write_corpus, write_quirks

NODE_FIELDS = ("id", "type", "name", "atccode", "source_id", "title", "date", "journal")


def plain_normal(name: str) -> str:
    """The matching rule's normal form, stated in plain Python: accents off, lower case, every
    run of other characters than letters and digits one space."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Cf")).lower()
    words, word = [], ""
    for char in bare:
        if unicodedata.category(char)[0] in "LN":
            word += char
        elif word:
            words.append(word)
            word = ""
    return " ".join([*words, word] if word else words)


def table_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a Parquet file, dates as ISO text."""
    rows = pq.read_table(path).to_pylist()
    return [
        {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in r.items()} for r in rows
    ]


def check_tables_hold_graph(graph_json: Path) -> None:
    """Every node and edge of graph.json is one row of the tables, and nothing else is."""
    document = json.loads(graph_json.read_text(encoding="utf-8"))
    paths = table_paths(graph_json)
    nodes, edges = table_rows(paths["nodes"]), table_rows(paths["edges"])
    # nodes: graph.json's order, every field (null where a kind of node has none)
    assert [{f: r[f] for f in NODE_FIELDS} for r in nodes] == [
        {f: n.get(f) for f in NODE_FIELDS} for n in document["nodes"]
    ]
    for row in nodes:
        expected = plain_normal(row["name"]) if row["type"] == "drug" else None
        assert row["match_name"] == expected
    # edges: the same multiset; the target's type is its node's
    types = {n["id"]: n["type"] for n in document["nodes"]}
    as_rows = sorted(
        (e["source"], e["target"], e["key"] or "", e["date"] or "", types[e["target"]])
        for e in document["edges"]
    )
    assert (
        sorted(
            (r["source"], r["target"], r["key"] or "", r["date"] or "", r["target_type"])
            for r in edges
        )
        == as_rows
    )
    assert len(edges) == len(document["edges"])


def test_tables_hold_what_graph_json_holds(tmp_path: Path) -> None:
    data = write_corpus(tmp_path / "data", titles=1500, files=3)
    jobs.run(data, str(tmp_path / "lake"), tmp_path / "out", engine="local")
    check_tables_hold_graph(tmp_path / "out" / "graph.json")


def test_quirks_and_reference_files_in_tables(tmp_path: Path) -> None:
    write_quirks(tmp_path / "quirks")
    jobs.run(tmp_path / "quirks", str(tmp_path / "lake1"), tmp_path / "out1", engine="local")
    check_tables_hold_graph(tmp_path / "out1" / "graph.json")
    reference = shared_path("reference-data", "servier-test")
    jobs.run(reference, str(tmp_path / "lake2"), tmp_path / "out2", engine="stream")
    check_tables_hold_graph(tmp_path / "out2" / "graph.json")


def test_every_engine_writes_the_same_table_bytes_in_one_type_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small row groups and buckets: many groups, cut across the stream engine's buckets
    monkeypatch.setattr(parquet_graph, "ROW_GROUP_ROWS", 50)
    data = write_corpus(tmp_path / "data", titles=2500, files=4)
    jobs.run(data, str(tmp_path / "lake_l"), tmp_path / "local", engine="local")
    run_stream(RunRequest(data, str(tmp_path / "lake_s"), tmp_path / "stream"), rows_per_bucket=170)
    for name in ("graph.json", "graph_nodes.parquet", "graph_edges.parquet"):
        assert (tmp_path / "local" / name).read_bytes() == (
            tmp_path / "stream" / name
        ).read_bytes(), name
    for name, column in (("graph_nodes.parquet", "type"), ("graph_edges.parquet", "target_type")):
        metadata = pq.read_metadata(tmp_path / "local" / name)
        groups = [metadata.row_group(i) for i in range(metadata.num_row_groups)]
        assert len(groups) > 10
        index = metadata.schema.names.index(column)
        for group in groups:
            stats = group.column(index).statistics
            assert stats.min == stats.max  # one type per row group: readers skip the others
            assert group.num_rows <= 50
    check_tables_hold_graph(tmp_path / "stream" / "graph.json")


def frames_of(document: dict[str, Any]) -> tuple[list[pl.DataFrame], pl.DataFrame]:
    """graph.json's nodes as one frame per run of one type (its fields, as the renderer got
    them), and its edges."""
    runs: list[list[dict[str, Any]]] = []
    for node in document["nodes"]:
        if runs and runs[-1][0]["type"] == node["type"]:
            runs[-1].append(node)
        else:
            runs.append([node])
    nodes = [pl.DataFrame(run, schema=dict.fromkeys(run[0], pl.String)) for run in runs]
    edge_fields = ("source", "target", "key", "date")
    edges = pl.DataFrame(document["edges"], schema=dict.fromkeys(edge_fields, pl.String))
    return nodes, edges


@pytest.mark.parametrize("sizes", [(1,), (3, 1, 7), (1000,)])
def test_row_groups_do_not_depend_on_how_rows_come(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sizes: tuple[int, ...]
) -> None:
    monkeypatch.setattr(parquet_graph, "ROW_GROUP_ROWS", 4)
    reference = tmp_path / "ref" / "graph.json"
    data = write_corpus(tmp_path / "data", titles=300, files=1)
    jobs.run(data, str(tmp_path / "lake"), reference.parent, engine="local")
    nodes, edges = frames_of(json.loads(reference.read_text()))

    def chunks(frame: pl.DataFrame) -> list[pl.DataFrame]:
        out, start, turn = [], 0, 0
        while start < frame.height:
            size = sizes[turn % len(sizes)]
            out.append(frame.slice(start, size))
            start, turn = start + size, turn + 1
        return out

    target = tmp_path / "again" / "graph.json"
    node_chunks = [chunk for run in nodes for chunk in chunks(run)]
    parquet_graph.save_graph_files(target, node_chunks, chunks(edges))
    assert target.read_bytes() == reference.read_bytes()
    for kind, path in table_paths(reference).items():
        assert table_paths(target)[kind].read_bytes() == path.read_bytes(), kind


def test_a_failed_write_leaves_no_table_and_the_old_files(tmp_path: Path) -> None:
    graph = tmp_path / "graph.json"
    nodes = pl.DataFrame({"id": ["drug:A"], "type": ["drug"], "name": ["A"], "atccode": ["X"]})
    edges = pl.DataFrame(
        {
            "source": ["drug:A"],
            "target": ["pubmed:1"],
            "key": ["2020-01-01"],
            "date": ["2020-01-01"],
        }
    )
    parquet_graph.save_graph_files(graph, [nodes], [edges])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def failing() -> Any:
        yield nodes
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        parquet_graph.save_graph_files(graph, failing(), [edges])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    # a bad date is an error too, and nothing is left behind either
    bad = edges.with_columns(pl.lit("01/02/2020").alias("date"))
    with pytest.raises(pl.exceptions.InvalidOperationError):
        parquet_graph.save_graph_files(graph, [nodes], [bad])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_an_empty_graph_has_empty_tables(tmp_path: Path) -> None:
    graph = tmp_path / "graph.json"
    with ParquetGraphWriter(graph) as writer:
        writer.observe(b"{}")
        writer.commit()
    for kind, schema in (
        ("nodes", parquet_graph.NODE_SCHEMA),
        ("edges", parquet_graph.EDGE_SCHEMA),
    ):
        table = pq.read_table(table_paths(graph)[kind])
        assert table.num_rows == 0
        assert table.schema.names == schema.names


def test_tables_go_into_the_lake_and_load_into_the_warehouse(tmp_path: Path) -> None:
    reference = shared_path("reference-data", "servier-test")
    jobs.run(reference, str(tmp_path / "lake"), tmp_path / "out", engine="local")
    lake = Lake(str(tmp_path / "lake"))
    for kind, table in parquet_graph.LAKE_TABLES.items():
        (part,) = lake.part_files(table)
        assert (
            Path(part).read_bytes()
            == table_paths(tmp_path / "out" / "graph.json")[kind].read_bytes()
        )
    from datapipeline.warehouse import load_lake

    document = json.loads((tmp_path / "out" / "graph.json").read_text())
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        loaded = load_lake(warehouse, lake)
        assert loaded["graph_nodes"] == len(document["nodes"])
        assert loaded["graph_edges"] == len(document["edges"])
        names = warehouse.query("SELECT name FROM graph_nodes WHERE type = 'journal' ORDER BY name")
        assert names.column("name").to_pylist() == sorted(
            n["name"] for n in document["nodes"] if n["type"] == "journal"
        )
