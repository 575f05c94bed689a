"""Airflow orchestration: the DAG factory behind ``dags/`` (install the ``airflow`` extra).

``build_dags(config_dir)`` reads ``projects_list.json``, ``dag_config.yaml`` and the files they
point to, and returns the DAGs by id (see :mod:`datapipeline.orchestration.factory`). Airflow
is imported only when it is called, so the core package does not need it; the config
checks themselves (:func:`load_projects`) need no Airflow.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from datapipeline.orchestration.settings import (
    CONFIG_DIR_ENV,
    ProjectDags,
    config_dir_for,
    load_projects,
)

if TYPE_CHECKING:
    from airflow.sdk import DAG


def build_dags(config_dir: str | Path) -> dict[str, DAG]:
    """Every DAG ``config_dir`` describes, by DAG id; a broken config raises ``ConfigError``."""
    from datapipeline.orchestration.factory import build_dags as build

    return build(config_dir)


__all__ = ["CONFIG_DIR_ENV", "ProjectDags", "build_dags", "config_dir_for", "load_projects"]
