"""End-to-end: a real Airflow 3.3 (api-server, scheduler, dag-processor) runs the
orchestrator, which triggers the import DAG, waits, then triggers the process DAG.

One Airflow instance is shared by the tests of this module (starting one costs ~20-30 s
on a 2-core machine). Each test writes into its own output directory, passed as run
conf, so the tests do not see each other's files.
"""

from __future__ import annotations

import json
import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("airflow")

from airflow_harness import (
    AirflowInstance,
    import_errors,
    list_runs,
    pause,
    start_airflow,
    task_states,
    trigger_and_wait,
    unpause,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROTO_DAGS = Path(__file__).parent / "proto_dags"
DAG_IDS = ("proto_import", "proto_process", "proto_orchestrator")
RUN_TIMEOUT = 150


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowInstance]:
    base = tmp_path_factory.mktemp("airflow-e2e")
    # A copy, so a test can drop a broken DAG file in without touching the repo.
    dags = base / "dags"
    shutil.copytree(PROTO_DAGS, dags, ignore=shutil.ignore_patterns("__pycache__"))
    with start_airflow(base / "home", dags, {}, expect_dag_ids=DAG_IDS) as af:
        yield af


def _explain(af: AirflowInstance, dag_id: str, run_id: str) -> str:
    return f"{dag_id}/{run_id}: {task_states(af, dag_id, run_id)}\n{af.log_tail(25)}"


def test_orchestrator_runs_import_then_process(airflow: AirflowInstance, tmp_path: Path) -> None:
    out = tmp_path / "out"
    started = time.monotonic()
    state, run_id = trigger_and_wait(
        airflow, "proto_orchestrator", conf={"output_dir": str(out)}, timeout=RUN_TIMEOUT
    )
    elapsed = time.monotonic() - started
    assert state == "success", _explain(airflow, "proto_orchestrator", run_id)

    # Files produced by the children.
    imported = sorted(p.name for p in (out / "imported").iterdir())
    assert imported == ["_summary.json", "clinical_trials.json", "drugs.json", "pubmed.json"]
    result = json.loads((out / "processed" / "result.json").read_text())
    rows = len("drugs") + len("pubmed") + len("clinical_trials")
    assert result == {
        "rows": rows,
        "sources": ["clinical_trials", "drugs", "pubmed"],
        "status": "ok",
    }

    # The children ran under the deterministic run ids the orchestrator gave them.
    for child, suffix in (("proto_import", "import"), ("proto_process", "process")):
        runs = {r["dag_run_id"]: r["state"] for r in list_runs(airflow, child)}
        assert runs.get(f"orchestrated__{run_id}__{suffix}") == "success", runs
    print(f"orchestrator success run took {elapsed:.1f}s")


def test_orchestrator_fails_when_import_fails(airflow: AirflowInstance, tmp_path: Path) -> None:
    out = tmp_path / "out"
    state, run_id = trigger_and_wait(
        airflow,
        "proto_orchestrator",
        conf={"output_dir": str(out), "fail_in": "import"},
        timeout=RUN_TIMEOUT,
    )
    assert state == "failed", _explain(airflow, "proto_orchestrator", run_id)
    states = task_states(airflow, "proto_orchestrator", run_id)
    assert states == {"trigger_import": "failed", "trigger_process": "upstream_failed"}
    import_runs = {r["dag_run_id"]: r["state"] for r in list_runs(airflow, "proto_import")}
    assert import_runs[f"orchestrated__{run_id}__import"] == "failed"
    process_ids = {r["dag_run_id"] for r in list_runs(airflow, "proto_process")}
    assert f"orchestrated__{run_id}__process" not in process_ids
    assert not (out / "processed").exists()


def test_orchestrator_fails_when_process_fails(airflow: AirflowInstance, tmp_path: Path) -> None:
    out = tmp_path / "out"
    state, run_id = trigger_and_wait(
        airflow,
        "proto_orchestrator",
        conf={"output_dir": str(out), "fail_in": "process"},
        timeout=RUN_TIMEOUT,
    )
    assert state == "failed", _explain(airflow, "proto_orchestrator", run_id)
    states = task_states(airflow, "proto_orchestrator", run_id)
    assert states == {"trigger_import": "success", "trigger_process": "failed"}
    assert (out / "imported" / "_summary.json").exists()
    assert not (out / "processed" / "result.json").exists()


def test_orchestrator_fails_fast_on_paused_child(airflow: AirflowInstance, tmp_path: Path) -> None:
    # Without fail_when_dag_is_paused the orchestrator would wait until dagrun_timeout.
    pause(airflow, "proto_process")
    try:
        state, run_id = trigger_and_wait(
            airflow, "proto_orchestrator", conf={"output_dir": str(tmp_path)}, timeout=60
        )
    finally:
        unpause(airflow, "proto_process")
    assert state == "failed", _explain(airflow, "proto_orchestrator", run_id)
    states = task_states(airflow, "proto_orchestrator", run_id)
    assert states == {"trigger_import": "success", "trigger_process": "failed"}


def test_dag_processor_reports_broken_file(airflow: AirflowInstance) -> None:
    (airflow.dags_folder / "broken_config_dag.py").write_text(
        textwrap.dedent(
            '''
            """A DAG file whose config check fails at import time."""
            from airflow.sdk import dag

            raise ValueError("DATAPIPELINE_E2E_BROKEN: source bucket not configured")
            '''
        )
    )
    deadline = time.monotonic() + 60
    matches: list[dict] = []
    while time.monotonic() < deadline and not matches:
        matches = [e for e in import_errors(airflow) if "broken_config_dag.py" in e["filename"]]
        time.sleep(1)
    assert matches, "DAG processor did not report the broken file\n" + airflow.log_tail()
    assert "DATAPIPELINE_E2E_BROKEN: source bucket not configured" in matches[0]["stack_trace"]
