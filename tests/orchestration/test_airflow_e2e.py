"""End-to-end: the repo's ``dags/`` in a real Airflow 3 (api-server, scheduler, dag-processor,
LocalExecutor, SQLite) started by the harness in a temporary ``AIRFLOW_HOME``.

One Airflow instance serves both tests (starting one costs ~20-30 s on 2 cores). Its config
folder (``$DATAPIPELINE_CONFIG_DIR``) is written into tmp_path with two projects, each in its
own environment (lake, outputs and DuckDB warehouse under the tmp project root):

- ``drug_mentions``/``dv`` reads the shipped sample data: its orchestrator must succeed and
  produce the same graph.json, byte for byte, as ``datapipeline run`` on the same files;
- ``broken_input``/``broken`` has a source whose file does not exist: the import fails at
  once (no retry although ``retries: 2``), so the orchestrator fails and never triggers the
  process DAG.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from airflow_harness import (
    AirflowInstance,
    api,
    import_errors,
    list_runs,
    start_airflow,
    task_states,
    trigger_and_wait,
)
from orchestration_config import DAGS_DIR, require_airflow, sample_sources, write_project

from datapipeline import jobs
from datapipeline.lake import Lake
from datapipeline.orchestration import CONFIG_DIR_ENV

require_airflow()

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RUN_TIMEOUT = 240
GOOD = "drug_mentions__dv"
BROKEN = "broken_input__broken"


@dataclass
class Deployment:
    af: AirflowInstance
    root: Path  #: the project root (holds config/ and the environments' folders)


def _env(prefix: str) -> dict[str, object]:
    return {
        "lake": f"{prefix}imported_data",
        "output": f"{prefix}processed_data",
        "warehouse": {"backend": "duckdb", "path": f"{prefix}processed_data/warehouse.duckdb"},
    }


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    base = tmp_path_factory.mktemp("airflow-e2e")
    root = (base / "proj").resolve()
    missing = {
        "source_id": "pubmed_missing",
        "source_type": "csv",
        "source": "sample_data/missing_pubmed.csv",
        "dest_table": "pubmed",
    }
    config = write_project(
        root,
        projects=[
            {"name": "drug_mentions", "env": "dv"},
            {
                "name": "broken_input",
                "env": "broken",
                "dags": {"import": {"config_file": "broken_import.yaml"}},
            },
        ],
        environments={"dv": _env(""), "broken": _env("broken/")},
        extra_files={"broken_import.yaml": {"sources": [sample_sources()[0], missing]}},
    )
    dag_ids = [f"{p}__{t}" for p in (GOOD, BROKEN) for t in ("import", "process", "orchestrator")]
    with start_airflow(
        base / "home", DAGS_DIR, {CONFIG_DIR_ENV: str(config)}, expect_dag_ids=dag_ids
    ) as af:
        assert import_errors(af) == []
        yield Deployment(af, root)


def _explain(af: AirflowInstance, *runs: tuple[str, str]) -> str:
    states = "\n".join(f"{d}/{r}: {task_states(af, d, r)}" for d, r in runs)
    return f"{states}\n{af.log_tail(30)}"


def _child_run(af: AirflowInstance, dag_id: str, orchestrator_run: str, kind: str) -> str | None:
    runs = {r["dag_run_id"]: r["state"] for r in list_runs(af, dag_id)}
    return runs.get(f"orchestrated__{orchestrator_run}__{kind}")


def test_orchestrator_builds_the_same_graph_as_datapipeline_run(
    deployment: Deployment, tmp_path: Path
) -> None:
    af, root = deployment.af, deployment.root
    state, run_id = trigger_and_wait(af, f"{GOOD}__orchestrator", timeout=RUN_TIMEOUT)
    import_run = f"orchestrated__{run_id}__import"
    assert state == "success", _explain(
        af, (f"{GOOD}__orchestrator", run_id), (f"{GOOD}__import", import_run)
    )
    assert _child_run(af, f"{GOOD}__import", run_id, "import") == "success"
    assert _child_run(af, f"{GOOD}__process", run_id, "process") == "success"
    # one mapped task instance per source, then the warehouse load
    assert task_states(af, f"{GOOD}__import", import_run) == {
        "import_source[0]": "success",
        "import_source[1]": "success",
        "import_source[2]": "success",
        "import_source[3]": "success",
        "load_warehouse": "success",
    }

    # the main job on the same files, outside Airflow
    expected_out = tmp_path / "run_out"
    report = jobs.run(root / "sample_data", str(tmp_path / "run_lake"), expected_out)
    out = root / "processed_data"
    assert (out / "graph.json").read_bytes() == (expected_out / "graph.json").read_bytes()
    assert (out / "rejected_rows.jsonl").read_bytes() == (
        expected_out / "rejected_rows.jsonl"
    ).read_bytes()
    written = json.loads((out / "run_report.json").read_text())
    assert written["sources"] == report.to_dict()["sources"]
    assert written["outputs"]["graph"] == str(out / "graph.json")

    # the warehouse holds the lake's tables
    lake = Lake(str(root / "imported_data"))
    with duckdb.connect(str(out / "warehouse.duckdb"), read_only=True) as con:
        for table in ("drugs", "pubmed", "clinical_trials"):
            [(count,)] = con.execute(f"select count(*) from {table}").fetchall()
            assert count == lake.read_table(table).num_rows > 0


def test_orchestrator_fails_at_once_when_an_import_fails(deployment: Deployment) -> None:
    af, root = deployment.af, deployment.root
    state, run_id = trigger_and_wait(af, f"{BROKEN}__orchestrator", timeout=RUN_TIMEOUT)
    import_run = f"orchestrated__{run_id}__import"
    explain = _explain(af, (f"{BROKEN}__orchestrator", run_id), (f"{BROKEN}__import", import_run))
    assert state == "failed", explain
    assert task_states(af, f"{BROKEN}__orchestrator", run_id) == {
        "trigger_import": "failed",
        "trigger_process": "upstream_failed",
    }, explain
    assert task_states(af, f"{BROKEN}__import", import_run) == {
        "import_source[0]": "success",
        "import_source[1]": "failed",
        "load_warehouse": "upstream_failed",
    }, explain
    # bad input is not transient: failed on the first try although retries is 2
    ti = api(
        af, "GET", f"/dags/{BROKEN}__import/dagRuns/{import_run}/taskInstances/import_source/1"
    )
    assert (ti["state"], ti["try_number"], ti["max_tries"]) == ("failed", 1, 2)
    log = next(
        (af.home / "logs").glob(
            f"dag_id={BROKEN}__import/run_id={import_run}/task_id=import_source/map_index=1/attempt=1.log"
        )
    )
    assert "missing_pubmed.csv: file not found" in log.read_text()
    # the process DAG was never triggered and wrote nothing
    assert _child_run(af, f"{BROKEN}__process", run_id, "process") is None
    assert not (root / "broken" / "processed_data" / "graph.json").exists()
