"""The Airflow DAGs of DataPipeline, generated from ``config/`` (Airflow 3, TaskFlow API).

Per project of ``projects_list.json`` and its environment (``dv``, ``prod``… of
``dag_config.yaml``), up to three DAGs named ``<project>__<env>__<type>``:

- **import**: one mapped task per source of the import config (reader → the env's lake,
  each source replacing its own Parquet part), then one task loading those lake tables into
  the env's warehouse (DuckDB or BigQuery, tables replaced whole);
- **process**: the env's lake → ``graph.json``, rejected rows and run report in the env's
  output folder (the files of the process config), each written atomically;
- **orchestrator**: triggers the import DAG and waits for its run, then the process DAG and
  waits; its run fails when either child run fails (the process DAG is then not triggered).

Retries apply to transient errors only (see :mod:`datapipeline.orchestration.tasks`); the
orchestrator's trigger tasks never retry, since a retry would start a second child run.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, get_current_context, task

from datapipeline.orchestration import tasks
from datapipeline.orchestration.settings import ProjectDags, load_projects

#: Fixed, in the past: with ``catchup=False`` only the latest interval of a schedule runs.
START_DATE = datetime(2024, 1, 1, tzinfo=UTC)

_DOCS = {
    "import": (
        "Imports every source of `{import_file}` into the lake `{lake}` "
        "(one mapped `import_source` task per source: {sources}), then `load_warehouse` "
        "replaces the tables {tables} of the {warehouse} warehouse."
    ),
    "process": (
        "Reads the lake `{lake}` and writes `{graph}`, `{report}` and `{rejected}` into `{output}`."
    ),
    "orchestrator": (
        "Triggers `{import_dag}` and waits for its run, then `{process_dag}`; fails when "
        "either run fails."
    ),
}


def _doc_md(plan: ProjectDags, dag_type: str) -> str:
    process = plan.process
    warehouse = plan.env.warehouse
    where = warehouse.path if warehouse.backend == "duckdb" else warehouse.dataset
    text = _DOCS[dag_type].format(
        import_file=plan.config_files.get("import", ""),
        lake=plan.env.lake,
        sources=", ".join(f"`{s.source_id}`" for s in plan.imports.sources) if plan.imports else "",
        tables=", ".join(f"`{t}`" for t in plan.warehouse_tables),
        warehouse=f"{warehouse.backend} (`{where}`)",
        output=plan.env.output,
        graph=process.graph_file if process else "",
        report=process.report_file if process else "",
        rejected=process.rejected_file if process else "",
        import_dag=plan.dag_id("import"),
        process_dag=plan.dag_id("process"),
    )
    return (
        f"### {plan.dag_id(dag_type)}\n\nProject `{plan.project}`, environment "
        f"`{plan.env_name}`. {text}\n\n---\n{__doc__}"
    )


def _new_dag(plan: ProjectDags, dag_type: str) -> DAG:
    defaults = plan.defaults
    settings = plan.types[dag_type]  # type: ignore[index]
    tags = dict.fromkeys(
        [*defaults.tags, *settings.tags, plan.project, f"env:{plan.env_name}", dag_type]
    )
    default_args: dict[str, Any] = {
        "owner": defaults.owner,
        "retries": defaults.retries,
        "retry_delay": timedelta(seconds=defaults.retry_delay_seconds),
        "execution_timeout": timedelta(seconds=defaults.task_timeout_seconds),
    }
    return DAG(
        dag_id=plan.dag_id(dag_type),
        description=f"{dag_type} of {plan.project} ({plan.env_name})",
        schedule=settings.schedule if settings.schedule is not None else defaults.schedule,
        start_date=START_DATE,
        catchup=False,
        # One run at a time: two runs would write the same lake parts and outputs.
        max_active_runs=1,
        dagrun_timeout=timedelta(seconds=defaults.dagrun_timeout_seconds),
        default_args=default_args,
        tags=set(tags),
        doc_md=_doc_md(plan, dag_type),
    )


def import_dag(plan: ProjectDags) -> DAG:
    """Mapped import of every source, then the warehouse load."""
    assert plan.imports is not None
    with _new_dag(plan, "import") as dag:

        @task(task_id="import_source", map_index_template="{{ source_id }}")
        def import_source(source_id: str) -> dict[str, Any]:
            # names the mapped task instance after its source in the UI
            cast("dict[str, Any]", get_current_context())["source_id"] = source_id
            return tasks.import_one(plan, source_id)

        @task(task_id="load_warehouse")
        def load_warehouse(imported: Any) -> dict[str, int]:
            # the mapped results: a lazy sequence of import_source's dicts
            return tasks.load_warehouse(plan, list(imported))

        ids = [s.source_id for s in plan.imports.sources]
        load_warehouse(import_source.expand(source_id=ids))
    return dag


def process_dag(plan: ProjectDags) -> DAG:
    """The process job, one task."""
    with _new_dag(plan, "process") as dag:

        @task(task_id="build_graph")
        def build_graph() -> dict[str, Any]:
            return tasks.build_graph(plan)

        build_graph()
    return dag


def orchestrator_dag(plan: ProjectDags) -> DAG:
    """Import, wait, process, wait."""
    with _new_dag(plan, "orchestrator") as dag:
        common: dict[str, Any] = {
            "wait_for_completion": True,
            "poke_interval": plan.defaults.poke_interval_seconds,
            "allowed_states": ["success"],
            "failed_states": ["failed"],
            # A paused child would leave its run queued and this one waiting until timeout.
            "fail_when_dag_is_paused": True,
            # A retry would trigger a second child run; the child retries its own tasks.
            "retries": 0,
        }
        run_import = TriggerDagRunOperator(
            task_id="trigger_import",
            trigger_dag_id=plan.dag_id("import"),
            # traceable from the orchestrator's run
            trigger_run_id="orchestrated__{{ run_id }}__import",
            **common,
        )
        run_process = TriggerDagRunOperator(
            task_id="trigger_process",
            trigger_dag_id=plan.dag_id("process"),
            trigger_run_id="orchestrated__{{ run_id }}__process",
            **common,
        )
        run_import >> run_process
    return dag


_BUILDERS = {"import": import_dag, "process": process_dag, "orchestrator": orchestrator_dag}


def build_dags(config_dir: str | Path) -> dict[str, DAG]:
    """Every DAG the config under ``config_dir`` describes, by DAG id.

    Raises :class:`~datapipeline.errors.ConfigError` (file and key named) on a broken config:
    in a DAG file that is an import error, never an empty DAG list.
    """
    dags: dict[str, DAG] = {}
    for plan in load_projects(config_dir):
        for dag_type in plan.types:
            dag = _BUILDERS[dag_type](plan)
            dags[dag.dag_id] = dag
    return dags
