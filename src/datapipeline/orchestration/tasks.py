"""The bodies of the Airflow tasks: plain functions over a :class:`ProjectDags`.

Each one is idempotent -- a rerun overwrites its own outputs: a source replaces its own lake
part, a warehouse load replaces whole tables, the process job writes its files atomically.

:func:`fail_fast` decides what Airflow may retry. A :class:`DataPipelineError` carries
``transient``: a locked warehouse file or a storage hiccup may pass on a retry, bad input or
bad config never will, so those fail the task at once (``AirflowFailException``: no retry,
whatever ``retries`` says). Other errors are retried by the rule every retry of the pipeline
follows (:func:`datapipeline.retry.is_transient`: network errors and the storage statuses that
say "try again"); any other exception is a bug or bad data and fails at once.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from datapipeline.errors import DataPipelineError
from datapipeline.importing import import_source
from datapipeline.lake import Lake
from datapipeline.orchestration.settings import ProjectDags
from datapipeline.processing import process
from datapipeline.retry import is_transient
from datapipeline.warehouse import load_lake, open_warehouse

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def fail_fast(func: Callable[P, R]) -> Callable[P, R]:
    """Re-raise transient errors (Airflow retries them); turn the others into a failure
    without retry, keeping the one-line message of the project's errors."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            if is_transient(exc):
                log.warning("transient error, Airflow may retry: %s", exc)
                raise
            from airflow.sdk.exceptions import AirflowFailException

            message = str(exc) if isinstance(exc, DataPipelineError) else repr(exc)
            raise AirflowFailException(f"{message} (not retried: not transient)") from exc

    return wrapper


@fail_fast
def import_one(plan: ProjectDags, source_id: str) -> dict[str, Any]:
    """Import one source of the project into the env's lake (replaces its own part)."""
    assert plan.imports is not None, "import task of a project without an import DAG"
    source = plan.imports.source(source_id)
    rows = import_source(source, Lake(plan.env.lake))
    return {"source_id": source_id, "table": source.dest_table, "rows": rows}


@fail_fast
def load_warehouse(plan: ProjectDags, imported: list[dict[str, Any]]) -> dict[str, int]:
    """Load the lake tables the import wrote into the env's warehouse (tables replaced)."""
    tables = plan.warehouse_tables
    read = {t: sum(i["rows"] for i in imported if i["table"] == t) for t in tables}
    with open_warehouse(plan.env.warehouse) as warehouse:
        loaded = load_lake(warehouse, Lake(plan.env.lake), tables)
        where = warehouse.describe()
        log.info("loaded %s into %s (rows imported by this run: %s)", loaded, where, read)
    return loaded


@fail_fast
def build_graph(plan: ProjectDags) -> dict[str, Any]:
    """The process job: the env's lake → graph.json, rejected rows and run report."""
    report = process(Lake(plan.env.lake), Path(plan.env.output), plan.process)
    log.info("%s", report.summary())
    return {"graph": report.graph, "outputs": report.outputs}
