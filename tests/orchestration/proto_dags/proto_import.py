"""
### proto_import

Prototype **import** DAG: one dynamically mapped task per source (`.expand`), then a
summary task that reduces the mapped results.

Writes `<output_dir>/imported/<source>.json` and `<output_dir>/imported/_summary.json`.
`output_dir` comes from the run conf (`params.output_dir`) or the
`DATAPIPELINE_PROTO_OUTPUT_DIR` environment variable.
"""

from __future__ import annotations

import json
from datetime import timedelta

from _proto_common import DEFAULT_ARGS, START_DATE, TAG, maybe_fail, output_dir
from airflow.sdk import Param, dag, get_current_context, task

SOURCES = ["drugs", "pubmed", "clinical_trials"]


@dag(
    dag_id="proto_import",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    tags=[TAG, "import"],
    default_args=DEFAULT_ARGS,
    dagrun_timeout=timedelta(minutes=10),
    max_active_runs=1,
    doc_md=__doc__,
    params={
        "output_dir": Param(None, type=["null", "string"]),
        "fail_in": Param("", type="string"),
    },
)
def proto_import():
    @task
    def extract(source: str) -> dict:
        params = get_current_context()["params"]
        maybe_fail(params, "import")
        target = output_dir(params) / "imported"
        target.mkdir(parents=True, exist_ok=True)
        rows = [{"source": source, "n": i} for i in range(len(source))]
        (target / f"{source}.json").write_text(json.dumps(rows))
        return {"source": source, "rows": len(rows)}

    @task
    def summarize(results: list[dict]) -> int:
        params = get_current_context()["params"]
        total = sum(r["rows"] for r in results)
        summary = {"sources": sorted(r["source"] for r in results), "rows": total}
        (output_dir(params) / "imported" / "_summary.json").write_text(json.dumps(summary))
        return total

    summarize(extract.expand(source=SOURCES))


proto_import()
