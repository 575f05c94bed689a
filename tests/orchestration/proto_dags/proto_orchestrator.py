"""
### proto_orchestrator

Prototype **orchestrator**: triggers `proto_import`, waits for it, then triggers
`proto_process` and waits for it. The run fails if either child run fails (the second
trigger is then `upstream_failed` and never fires).

Run conf: `output_dir` (passed on to both children), `fail_in` (`import`/`process`,
failure injection for tests).

Notes for Airflow 3.3:
* `wait_for_completion=True` without `deferrable` keeps an executor slot busy while
  waiting (parallelism must be >= 2); `deferrable=True` frees it but needs a running
  `airflow triggerer`. Set `DATAPIPELINE_PROTO_DEFERRABLE=1` (at parse time) to use it.
* The trigger tasks have `retries=0`: a retry would trigger a *second* child run.
* `fail_when_dag_is_paused=True` fails fast instead of waiting on a paused child.
"""

from __future__ import annotations

import os
from datetime import timedelta

from _proto_common import DEFAULT_ARGS, START_DATE, TAG
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag

DEFERRABLE = os.environ.get("DATAPIPELINE_PROTO_DEFERRABLE", "0") == "1"
CHILD_CONF = {"output_dir": "{{ params.output_dir }}", "fail_in": "{{ params.fail_in }}"}


@dag(
    dag_id="proto_orchestrator",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    tags=[TAG, "orchestrator"],
    default_args=DEFAULT_ARGS,
    dagrun_timeout=timedelta(minutes=20),
    max_active_runs=1,
    # Render "{{ params.output_dir }}" as None (not the string "None") when unset.
    render_template_as_native_obj=True,
    doc_md=__doc__,
    params={
        "output_dir": Param(None, type=["null", "string"]),
        "fail_in": Param("", type="string"),
    },
)
def proto_orchestrator():
    common = {
        "wait_for_completion": True,
        "poke_interval": 2,
        "allowed_states": ["success"],
        "failed_states": ["failed"],
        "deferrable": DEFERRABLE,
        "fail_when_dag_is_paused": True,
        "conf": CHILD_CONF,
        "retries": 0,
    }
    run_import = TriggerDagRunOperator(
        task_id="trigger_import",
        trigger_dag_id="proto_import",
        # Deterministic child run id: traceable from the orchestrator run.
        trigger_run_id="orchestrated__{{ run_id }}__import",
        **common,
    )
    run_process = TriggerDagRunOperator(
        task_id="trigger_process",
        trigger_dag_id="proto_process",
        trigger_run_id="orchestrated__{{ run_id }}__process",
        **common,
    )
    run_import >> run_process


proto_orchestrator()
