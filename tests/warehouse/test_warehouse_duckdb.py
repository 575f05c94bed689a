"""The DuckDB warehouse: loading the lake, reloading, querying, reading back."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from datapipeline import cli, importing
from datapipeline.config import Warehouse as WarehouseConfig
from datapipeline.errors import LakeError, WarehouseError
from datapipeline.lake import Lake
from datapipeline.run import sources
from datapipeline.run.imports import remove_sources
from datapipeline.warehouse import backends, load_lake, open_warehouse
from datapipeline.warehouse.duckdb_backend import DuckDBWarehouse

TABLES = ["clinical_trials", "drugs", "pubmed"]


@pytest.fixture
def lake(tiny_inputs: Path, tmp_path: Path) -> Lake:
    lake = Lake(tmp_path / "lake")
    for source in sources.discover_sources(tiny_inputs):
        importing.import_source(source, lake)
    return lake


def _frame(table) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    return pl.from_arrow(table)  # type: ignore[return-value]


def test_backends_are_registered_by_name() -> None:
    assert backends() == ["bigquery", "duckdb"]
    warehouse = open_warehouse(WarehouseConfig(backend="duckdb", path=":memory:"))
    assert isinstance(warehouse, DuckDBWarehouse)
    warehouse.close()


def test_load_lake_row_counts_and_content_equal_the_lake(lake: Lake, tmp_path: Path) -> None:
    path = tmp_path / "wh" / "warehouse.duckdb"
    with open_warehouse(WarehouseConfig(backend="duckdb", path=str(path))) as warehouse:
        counts = load_lake(warehouse, lake)
        assert sorted(counts) == TABLES
        for table in TABLES:
            from_lake = lake.read_table(table)
            assert counts[table] == from_lake.num_rows
            assert _frame(warehouse.read_table(table)).equals(_frame(from_lake))
    assert path.is_file()
    # Only the expected row counts: 5 drugs, 4 + 2 PubMed rows, 3 trials (tiny_inputs).
    assert counts == {"clinical_trials": 3, "drugs": 5, "pubmed": 6}


def test_reload_is_idempotent_and_replaces_tables(
    lake: Lake, tmp_path: Path, tiny_inputs: Path
) -> None:
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        first = load_lake(warehouse, lake)
        second = load_lake(warehouse, lake)
        assert second == first
        count = warehouse.query("SELECT count(*) AS n FROM pubmed").column("n").to_pylist()
        assert count == [first["pubmed"]]
    # A table is replaced whole by the lake's current content, across connections.
    json_key = str((tiny_inputs / "pubmed.json").resolve())
    assert remove_sources(lake, "pubmed", {json_key}) == 2
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        assert load_lake(warehouse, lake, ["pubmed"]) == {"pubmed": 4}
        assert warehouse.read_table("drugs").num_rows == 5  # untouched


def test_query_runs_sql_on_loaded_tables(lake: Lake) -> None:
    with DuckDBWarehouse(":memory:") as warehouse:
        load_lake(warehouse, lake)
        result = warehouse.query(
            "SELECT journal, count(*) AS n FROM pubmed GROUP BY journal ORDER BY n DESC, journal"
        )
    assert result.to_pylist() == [
        {"journal": "Journal of food protection", "n": 3},
        {"journal": "The journal of pediatrics", "n": 2},
        {"journal": "Journal of emergency nursing", "n": 1},
    ]


def test_errors_are_one_line(lake: Lake) -> None:
    with DuckDBWarehouse(":memory:") as warehouse:
        with pytest.raises(WarehouseError, match=r"table 'drugs' not found in the warehouse"):
            warehouse.read_table("drugs")
        with pytest.raises(WarehouseError, match=r"query failed: .*nope"):
            warehouse.query("SELECT * FROM nope")
        with pytest.raises(LakeError, match="table 'missing' not found"):
            warehouse.load_table("missing", lake, "missing")


def test_load_command_uses_the_environment_warehouse(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config" / "dag_config.yaml"
    config.parent.mkdir()
    config.write_text(
        f"environments:\n  test:\n    lake: {lake.root}\n"
        "    warehouse:\n      backend: duckdb\n      path: wh/test.duckdb\n",
        encoding="utf-8",
    )
    assert cli.main(["load", "--env", "test", "--tables", "drugs", "pubmed"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "drugs: 5 rows → duckdb wh/test.duckdb",
        "pubmed: 6 rows → duckdb wh/test.duckdb",
    ]
    with DuckDBWarehouse(tmp_path / "wh" / "test.duckdb") as warehouse:
        tables = warehouse.query("SELECT table_name FROM information_schema.tables")
        assert sorted(tables.column(0).to_pylist()) == ["drugs", "pubmed"]


def test_load_from_a_gcs_lake(tiny_inputs: Path, tmp_path: Path, gcs_bucket: str) -> None:
    lake = Lake(f"gs://{gcs_bucket}/lake")
    for source in sources.discover_sources(tiny_inputs):
        importing.import_source(source, lake)
    with DuckDBWarehouse(tmp_path / "warehouse.duckdb") as warehouse:
        assert load_lake(warehouse, lake) == {"clinical_trials": 3, "drugs": 5, "pubmed": 6}
        assert _frame(warehouse.read_table("pubmed")).equals(_frame(lake.read_table("pubmed")))
