"""
### proto_process

Prototype **process** DAG: reads what `proto_import` wrote and writes one result file,
`<output_dir>/processed/result.json`. `output_dir` comes from the run conf
(`params.output_dir`) or the `DATAPIPELINE_PROTO_OUTPUT_DIR` environment variable.
"""

from __future__ import annotations

import json
from datetime import timedelta

from _proto_common import DEFAULT_ARGS, START_DATE, TAG, maybe_fail, output_dir
from airflow.sdk import Param, dag, get_current_context, task


@dag(
    dag_id="proto_process",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    tags=[TAG, "process"],
    default_args=DEFAULT_ARGS,
    dagrun_timeout=timedelta(minutes=10),
    max_active_runs=1,
    doc_md=__doc__,
    params={
        "output_dir": Param(None, type=["null", "string"]),
        "fail_in": Param("", type="string"),
    },
)
def proto_process():
    @task
    def build_result() -> str:
        params = get_current_context()["params"]
        maybe_fail(params, "process")
        base = output_dir(params)
        summary = json.loads((base / "imported" / "_summary.json").read_text())
        result = {"status": "ok", "sources": summary["sources"], "rows": summary["rows"]}
        target = base / "processed"
        target.mkdir(parents=True, exist_ok=True)
        path = target / "result.json"
        path.write_text(json.dumps(result, sort_keys=True))
        return str(path)

    build_result()


proto_process()
