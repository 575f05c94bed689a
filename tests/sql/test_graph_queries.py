"""The two graph questions as SQL (sql_queries/top_journals.sql, related_drugs.sql), run
unchanged on DuckDB and on a real PostgreSQL, give the CLI's answers and the plain-Python
oracle's, on the reference files and on a generated corpus; and the warehouse loads the
graph's tables from the lake and answers the same."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from datapipeline import jobs
from datapipeline.analysis.graph_db import drug_key
from datapipeline.cli import main
from datapipeline.lake import Lake
from datapipeline.mentions.parquet_graph import EDGE_SCHEMA, NODE_SCHEMA, table_paths
from datapipeline.sql_queries import known_queries, load_query, parameters
from datapipeline.warehouse import load_lake
from datapipeline.warehouse.duckdb_backend import DuckDBWarehouse
from tests.analysis.test_questions import oracle_related, oracle_top
from tests.conftest import shared_path
from tests.datagen import write_corpus
from tests.sql.conftest import DuckDBEngine, PostgresEngine

TOP_LEVEL = Path(__file__).resolve().parents[2] / "sql_queries"


def _sql_type(field: Any) -> str:
    return "DATE" if str(field.type).startswith("date") else "VARCHAR(100000)"


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def load_graph_tables(engine: DuckDBEngine | PostgresEngine, graph_json: Path) -> None:
    """Create graph_nodes and graph_edges in ``engine`` with the rows of the Parquet tables."""
    for kind, schema, table in (
        ("nodes", NODE_SCHEMA, "graph_nodes"),
        ("edges", EDGE_SCHEMA, "graph_edges"),
    ):
        columns = ", ".join(f"{f.name} {_sql_type(f)}" for f in schema)
        statements = [f"CREATE TABLE {table} ({columns});"]
        rows = pq.read_table(table_paths(graph_json)[kind]).to_pylist()
        for start in range(0, len(rows), 500):
            values = ",\n".join(
                "(" + ", ".join(_literal(r[f.name]) for f in schema) + ")"
                for r in rows[start : start + 500]
            )
            statements.append(f"INSERT INTO {table} VALUES\n{values};")
        engine.execute_script("\n".join(statements))


def cli_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(params=["reference files", "generated corpus"])
def graph(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "reference files":
        data = shared_path("reference-data", "servier-test")
    else:
        data = write_corpus(tmp_path / "data", titles=1500, files=2)
    jobs.run(data, str(tmp_path / "lake"), tmp_path / "out", engine="local")
    return tmp_path / "out" / "graph.json"


def test_queries_give_the_cli_answers(
    engine: DuckDBEngine | PostgresEngine, graph: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(graph.read_text(encoding="utf-8"))
    load_graph_tables(engine, graph)

    top = engine.query(load_query("top_journals"))
    assert top.columns == ["journal", "drugs"]
    cli_top = cli_json(["top-journals", str(graph)], capsys)
    assert [r[0] for r in top.rows] == cli_top["journals"]
    assert {int(r[1]) for r in top.rows} == {cli_top["count"]}
    assert (cli_top["count"], cli_top["journals"]) == oracle_top(document)

    names = [n["name"] for n in document["nodes"] if n["type"] == "drug"]
    assert names
    for name in names:
        for spelling in (name, name.lower()):
            result = engine.query(load_query("related_drugs"), {"drug_key": drug_key(spelling)})
            assert result.columns == ["drug", "related"]
            cli = cli_json(["related-drugs", str(graph), spelling], capsys)
            assert {r[0] for r in result.rows} == {cli["drug"]}
            assert [r[1] for r in result.rows if r[1] is not None] == cli["related"], name
            assert (cli["drug"], cli["related"]) == oracle_related(document, spelling)
    assert engine.query(load_query("related_drugs"), {"drug_key": "no such drug"}).rows == []


def test_the_queries_ship_with_the_package_and_in_sql_queries() -> None:
    for name in ("top_journals", "related_drugs"):
        assert name in known_queries()
        assert (TOP_LEVEL / f"{name}.sql").read_text() == load_query(name)
    assert parameters(load_query("related_drugs")) == ["drug_key"]
    assert parameters(load_query("top_journals")) == []


def test_graph_tables_load_into_the_warehouse_like_the_lake_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_corpus(tmp_path / "data", titles=1200, files=2)
    jobs.run(data, str(tmp_path / "lake"), tmp_path / "out", engine="stream")
    graph = tmp_path / "out" / "graph.json"
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        loaded = load_lake(warehouse, Lake(str(tmp_path / "lake")))
        assert {"graph_nodes", "graph_edges", "drugs", "pubmed"} <= set(loaded)
        rows = warehouse.query(load_query("related_drugs"), {"drug_key": "ethanol"}).to_pylist()
    cli = cli_json(["related-drugs", str(graph), "ETHANOL"], capsys)
    assert [r["related"] for r in rows if r["related"] is not None] == cli["related"]
    # `datapipeline sql` runs the question without a parameter on the warehouse file
    assert (
        main(["sql", "top_journals", "--warehouse", str(tmp_path / "warehouse.duckdb"), "--csv"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    cli_top = cli_json(["top-journals", str(graph)], capsys)
    assert lines[0] == "journal,drugs"
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == [str(cli_top["count"])] * len(
        cli_top["journals"]
    )
    # and the question with a parameter, given on the command line
    warehouse_file = str(tmp_path / "warehouse.duckdb")
    assert (
        main(
            [
                "sql",
                "related_drugs",
                "--param",
                "drug_key=ethanol",
                "--warehouse",
                warehouse_file,
                "--csv",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "drug,related"
    assert [line.split(",", 1)[1] for line in lines[1:]] == cli["related"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([], "error: related_drugs: expected --param drug_key=VALUE\n"),
        (
            ["--param", "drug_key=ethanol", "--param", "drug=x"],
            "error: --param drug: not a parameter of related_drugs (its parameters: drug_key)\n",
        ),
        (["--param", "drug_key"], "error: --param drug_key: expected NAME=VALUE\n"),
    ],
)
def test_a_query_parameter_missing_unknown_or_malformed_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], params: list[str], message: str
) -> None:
    warehouse_file = tmp_path / "warehouse.duckdb"
    DuckDBWarehouse(warehouse_file).close()
    assert main(["sql", "related_drugs", *params, "--warehouse", str(warehouse_file)]) == 2
    assert capsys.readouterr().err == message


def test_a_query_without_parameters_refuses_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse_file = tmp_path / "warehouse.duckdb"
    DuckDBWarehouse(warehouse_file).close()
    argv = ["sql", "query_1", "--param", "year=2019", "--warehouse", str(warehouse_file)]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "error: --param year: not a parameter of query_1 (it has no parameter)\n"
    )
