"""The task bodies, run in-process: what each writes, idempotence, and what may be retried."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from orchestration_config import require_airflow, write_project

from datapipeline.errors import ConfigError, InputError, LakeError, WarehouseError
from datapipeline.lake import Lake
from datapipeline.orchestration import load_projects, tasks

require_airflow()

from airflow.sdk.exceptions import AirflowFailException  # noqa: E402


def test_import_load_process_and_rerun(tmp_path: Path) -> None:
    [plan] = load_projects(write_project(tmp_path / "proj"))
    assert plan.imports is not None
    imported = [tasks.import_one(plan, s.source_id) for s in plan.imports.sources]
    lake = Lake(plan.env.lake)
    assert {i["table"]: 0 for i in imported} == {"drugs": 0, "pubmed": 0, "clinical_trials": 0}
    for table in ("drugs", "pubmed", "clinical_trials"):
        assert (
            sum(i["rows"] for i in imported if i["table"] == table)
            == lake.read_table(table).num_rows
        )

    loaded = tasks.load_warehouse(plan, imported)
    assert loaded == {
        t: lake.read_table(t).num_rows for t in ("clinical_trials", "drugs", "pubmed")
    }
    with duckdb.connect(plan.env.warehouse.path, read_only=True) as con:
        assert con.execute("select count(*) from pubmed").fetchone() == (loaded["pubmed"],)

    result = tasks.build_graph(plan)
    graph = Path(result["outputs"]["graph"])
    assert graph == Path(plan.env.output) / "graph.json"
    first = graph.read_bytes()

    # a rerun of every task overwrites its own outputs: same lake, tables and graph
    parts = sorted(lake.part_files("pubmed"))
    again = [tasks.import_one(plan, s.source_id) for s in plan.imports.sources]
    assert again == imported
    assert sorted(lake.part_files("pubmed")) == parts
    assert tasks.load_warehouse(plan, again) == loaded
    tasks.build_graph(plan)
    assert graph.read_bytes() == first


def test_a_missing_source_fails_without_retry(tmp_path: Path) -> None:
    sources = [
        {"source_id": "d", "source_type": "csv", "source": "nowhere.csv", "dest_table": "drugs"}
    ]
    [plan] = load_projects(
        write_project(tmp_path, extra_files={"file_to_import.yaml": {"sources": sources}})
    )
    with pytest.raises(AirflowFailException, match=r"nowhere\.csv: file not found") as caught:
        tasks.import_one(plan, "d")
    assert isinstance(caught.value.__cause__, InputError)


def _raising(exc: BaseException):
    @tasks.fail_fast
    def body() -> None:
        raise exc

    return body


def _transient(error: Exception) -> Exception:
    error.transient = True  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    "error",
    [ConfigError("c.yaml: key: bad"), InputError("f.csv: row 3: bad date"), ValueError("bug")],
    ids=["config", "input", "unknown"],
)
def test_non_transient_errors_fail_the_task_without_retry(error: Exception) -> None:
    with pytest.raises(AirflowFailException) as caught:
        _raising(error)()
    assert caught.value.__cause__ is error
    assert "not retried" in str(caught.value)
    if not isinstance(error, ValueError):
        assert str(caught.value).startswith(str(error))


@pytest.mark.parametrize(
    "error",
    [
        _transient(WarehouseError("w.duckdb: cannot open: lock held")),
        _transient(LakeError("gs://b: 503")),
        ConnectionResetError("reset by peer"),
    ],
    ids=["warehouse-lock", "lake-503", "os-error"],
)
def test_transient_errors_are_left_to_airflow_retries(error: Exception) -> None:
    with pytest.raises(type(error)) as caught:
        _raising(error)()
    assert caught.value is error
