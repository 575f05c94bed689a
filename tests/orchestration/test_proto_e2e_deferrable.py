"""End-to-end with ``TriggerDagRunOperator(deferrable=True)``: needs the triggerer.

Kept in its own module so its Airflow instance does not run at the same time as the
one of ``test_proto_e2e.py`` (module-scoped fixtures are torn down per module).

``parallelism=1`` on purpose: a deferred task gives its executor slot back while the
triggerer polls the child run, so one slot is enough. The non-deferrable variant needs
at least two (the waiting task holds one).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("airflow")

from airflow_harness import start_airflow, task_states, trigger_and_wait

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROTO_DAGS = Path(__file__).parent / "proto_dags"


def test_deferrable_orchestrator_with_triggerer(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    shutil.copytree(PROTO_DAGS, dags, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path / "out"
    with start_airflow(
        tmp_path / "home",
        dags,
        # Read by proto_orchestrator at parse time (in the dag-processor).
        {"DATAPIPELINE_PROTO_DEFERRABLE": "1", "DATAPIPELINE_PROTO_OUTPUT_DIR": str(out)},
        expect_dag_ids=("proto_import", "proto_process", "proto_orchestrator"),
        with_triggerer=True,
        parallelism=1,
    ) as af:
        # No conf: output_dir falls back to the env var the daemons were started with.
        state, run_id = trigger_and_wait(af, "proto_orchestrator", timeout=150)
        assert state == "success", (
            f"{task_states(af, 'proto_orchestrator', run_id)}\n{af.log_tail()}"
        )
        # A deferred task's trigger output is written next to its task log as
        # ``attempt=N.log.trigger.<triggerer job id>.log``: proof the wait was deferred.
        for task_id in ("trigger_import", "trigger_process"):
            task_logs = af.home / "logs" / "dag_id=proto_orchestrator" / f"run_id={run_id}"
            assert list((task_logs / f"task_id={task_id}").glob("attempt=1.log.trigger.*.log"))
    result = json.loads((out / "processed" / "result.json").read_text())
    assert result["status"] == "ok"
