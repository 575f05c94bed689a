"""Shared settings for the prototype DAGs (not a DAG file: no DAG is defined here).

The DAG processor only treats files that mention both "airflow" and "dag" as DAG
files in safe mode, so helper modules in the DAGs folder are fine; the folder itself is
put on ``sys.path`` by Airflow, which is why the DAG files import this module by name.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

OWNER = "datapipeline"
TAG = "datapipeline-proto"
START_DATE = datetime(2024, 1, 1, tzinfo=UTC)
OUTPUT_DIR_ENV = "DATAPIPELINE_PROTO_OUTPUT_DIR"

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 1,
    # Short so a failing test does not wait minutes for a retry.
    "retry_delay": timedelta(seconds=2),
    "execution_timeout": timedelta(minutes=5),
}


def output_dir(params: dict) -> Path:
    """Run conf/params win; the env var (set for the daemons) is the fallback."""
    value = params.get("output_dir") or os.environ.get(OUTPUT_DIR_ENV)
    if not value:
        raise ValueError(f"no output_dir param and {OUTPUT_DIR_ENV} is not set")
    return Path(value)


def maybe_fail(params: dict, where: str) -> None:
    """Failure injection used by the e2e test of the orchestrator's failure path."""
    if params.get("fail_in") == where:
        raise RuntimeError(f"injected failure in {where!r}")
