"""Config folders for the orchestration tests, written into tmp_path, and the Airflow guard.

A project root holds ``config/`` and a ``sample_data`` link to the shipped sample data, so the
sources are relative paths (resolved against the project root, not the current folder) that
read exactly the files ``datapipeline run`` reads by default.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from datapipeline.run.sources import SAMPLE_DATA_DIR

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
DAG_FILE = DAGS_DIR / "datapipeline_dags.py"
SAMPLE_FILES = ("drugs.csv", "pubmed.csv", "pubmed.json", "clinical_trials.csv")


def require_airflow() -> None:
    """Skip without Airflow on a laptop; in CI (``CI=true``) a missing Airflow fails."""
    if importlib.util.find_spec("airflow") is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(
            "Airflow is not installed: CI must install the dev extra (it includes airflow)",
            pytrace=False,
        )
    pytest.skip("Airflow not installed (pip install -e '.[airflow]')", allow_module_level=True)


def sample_sources() -> list[dict[str, str]]:
    """The four sample files as sources, relative to the project root."""
    return [
        {
            "source_id": "drugs",
            "source_type": "csv",
            "source": "sample_data/drugs.csv",
            "dest_table": "drugs",
        },
        {
            "source_id": "pubmed_csv",
            "source_type": "csv",
            "source": "sample_data/pubmed.csv",
            "dest_table": "pubmed",
        },
        {
            "source_id": "pubmed_json",
            "source_type": "json",
            "source": "sample_data/pubmed.json",
            "dest_table": "pubmed",
        },
        {
            "source_id": "clinical_trials",
            "source_type": "csv",
            "source": "sample_data/clinical_trials.csv",
            "dest_table": "clinical_trials",
        },
    ]


def write_project(
    root: Path,
    *,
    projects: list[dict[str, Any]] | None = None,
    environments: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    dags: dict[str, Any] | None = None,
    extra_files: dict[str, Any] | None = None,
) -> Path:
    """Write ``root/config/`` (the repo's layout, one ``dv`` project by default); return it."""
    config = root / "config"
    config.mkdir(parents=True, exist_ok=True)
    link = root / "sample_data"
    if not link.exists():
        link.symlink_to(SAMPLE_DATA_DIR, target_is_directory=True)
    projects = projects or [{"name": "drug_mentions", "env": "dv"}]
    (config / "projects_list.json").write_text(json.dumps({"projects": projects}))
    dag_config = {
        "defaults": {
            "owner": "data-engineering",
            "retries": 2,
            # long on purpose: a retry would not finish within the e2e test's timeout
            "retry_delay_seconds": 600,
            "dagrun_timeout_seconds": 600,
            "task_timeout_seconds": 300,
            "poke_interval_seconds": 2,
            "schedule": None,
            "tags": ["datapipeline"],
        }
        | (defaults or {}),
        "environments": environments
        or {
            "dv": {
                "lake": "imported_data",
                "output": "processed_data",
                "warehouse": {"backend": "duckdb", "path": "processed_data/warehouse.duckdb"},
            }
        },
        "dags": dags
        or {
            "import": {"config_file": "file_to_import.yaml"},
            "process": {"config_file": "file_to_process.yaml"},
            "orchestrator": {},
        },
    }
    (config / "dag_config.yaml").write_text(yaml.safe_dump(dag_config, sort_keys=False))
    (config / "file_to_import.yaml").write_text(yaml.safe_dump({"sources": sample_sources()}))
    (config / "file_to_process.yaml").write_text(yaml.safe_dump({"graph_file": "graph.json"}))
    for name, content in (extra_files or {}).items():
        text = content if isinstance(content, str) else yaml.safe_dump(content)
        (config / name).write_text(text)
    return config
