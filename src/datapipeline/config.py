"""Configuration files, parsed once into typed objects.

The seed's four files, under ``config/``:

- ``projects_list.json``: the projects, and which DAG types each gets;
- ``dag_config.yaml``: DAG defaults, environments (where the lake, the outputs and the
  warehouse are for ``dv``, ``prod``…) and the file each DAG type reads;
- ``file_to_import.yaml``: the sources of the import job;
- ``file_to_process.yaml``: the lake tables the process job reads and the files it writes.

Any error names the file and the key (``config/file_to_import.yaml: sources[1].source_type:
field required``). Secrets never live here: they come from the environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from datapipeline.errors import ConfigError, LakeError
from datapipeline.lake import validate_name
from datapipeline.schema import KINDS
from datapipeline.security import check_file_name

DEFAULT_CONFIG_DIR = Path("config")
DAG_TYPES = ("import", "process", "orchestrator")
DagTypeName = Literal["import", "process", "orchestrator"]
KindName = Literal["drugs", "pubmed", "clinical_trials"]


def _default_tables() -> dict[KindName, str]:
    return {"drugs": "drugs", "pubmed": "pubmed", "clinical_trials": "clinical_trials"}


def _all_dag_types() -> list[DagTypeName]:
    return ["import", "process", "orchestrator"]


def _checked_name(value: str, what: str) -> str:
    try:
        return validate_name(value, what)
    except LakeError as exc:
        raise ValueError(str(exc)) from None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Model):
    """One source of the import job."""

    source_id: str = Field(description="Unique name of the source; names its part in the lake.")
    source_type: str = Field(description="Reader to use: csv, json, …")
    source: str = Field(description="Path (or table name) to read.")
    dest_table: str = Field(description="Lake table the rows go to.")
    kind: str | None = Field(
        default=None, description="drugs, pubmed or clinical_trials; defaults to dest_table."
    )
    options: dict[str, Any] = Field(default_factory=dict, description="Reader options.")

    @field_validator("source_id", "dest_table")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return _checked_name(value, "table or source")

    @property
    def source_kind(self) -> str:
        """The kind of rows this source holds."""
        kind = self.kind or self.dest_table
        if kind not in KINDS:
            raise ConfigError(
                f"source {self.source_id!r}: kind {kind!r} unknown; set 'kind' to one of "
                f"{', '.join(KINDS)}"
            )
        return kind


class ImportConfig(_Model):
    """``file_to_import.yaml``."""

    sources: list[Source]

    def source(self, source_id: str) -> Source:
        """The source named ``source_id``; a clear error lists the known ones."""
        for source in self.sources:
            if source.source_id == source_id:
                return source
        known = ", ".join(s.source_id for s in self.sources)
        raise ConfigError(f"unknown source_id {source_id!r}: expected one of {known}")


class ProcessConfig(_Model):
    """``file_to_process.yaml``: lake tables read by the process job and files it writes."""

    tables: dict[KindName, str] = Field(default_factory=_default_tables)
    graph_file: str = "graph.json"
    report_file: str = "run_report.json"
    rejected_file: str = "rejected_rows.jsonl"

    @field_validator("graph_file", "report_file", "rejected_file")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        try:
            return check_file_name(value, "output file name")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("tables")
    @classmethod
    def _safe_tables(cls, value: dict[KindName, str]) -> dict[KindName, str]:
        for name in value.values():
            _checked_name(name, "table")
        return value


class Warehouse(_Model):
    """Where lake tables are loaded for SQL: DuckDB (embedded) or BigQuery."""

    backend: Literal["duckdb", "bigquery"] = "duckdb"
    path: str | None = None
    project: str | None = None
    dataset: str | None = None
    location: str | None = None


class Environment(_Model):
    """Locations for one environment (``dv``, ``prod``…)."""

    lake: str = "imported_data"
    output: str = "processed_data"
    warehouse: Warehouse = Warehouse(path="processed_data/warehouse.duckdb")


class DagDefaults(_Model):
    """Settings every generated DAG gets unless its type overrides them."""

    owner: str = "data-engineering"
    retries: int = Field(default=2, ge=0)
    retry_delay_seconds: int = Field(default=300, ge=0)
    dagrun_timeout_seconds: int = Field(default=3600, gt=0)
    task_timeout_seconds: int = Field(default=1800, gt=0)
    #: how often the orchestrator checks the run it triggered
    poke_interval_seconds: int = Field(default=30, gt=0)
    schedule: str | None = None
    tags: list[str] = Field(default_factory=lambda: ["datapipeline"])


class DagType(_Model):
    """One DAG type: the file it reads (relative to the config folder) and overrides."""

    config_file: str | None = None
    schedule: str | None = None
    tags: list[str] = Field(default_factory=list)


class DagConfig(_Model):
    """``dag_config.yaml``."""

    defaults: DagDefaults = DagDefaults()
    environments: dict[str, Environment] = Field(default_factory=lambda: {"dv": Environment()})
    dags: dict[DagTypeName, DagType] = Field(default_factory=dict)

    def environment(self, name: str) -> Environment:
        """The environment ``name``; a clear error lists the known ones."""
        try:
            return self.environments[name]
        except KeyError:
            known = ", ".join(sorted(self.environments))
            raise ConfigError(f"unknown environment {name!r}: expected one of {known}") from None


class Project(_Model):
    """One project of ``projects_list.json``."""

    name: str
    dag_types: list[DagTypeName] = Field(default_factory=_all_dag_types)
    env: str = "dv"
    #: per-project overrides of ``dag_config.yaml``'s ``dags`` (e.g. its own sources file)
    dags: dict[DagTypeName, DagType] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return _checked_name(value, "project")


class ProjectsList(_Model):
    """``projects_list.json``."""

    projects: list[Project]


M = TypeVar("M", bound=BaseModel)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def load_file(path: str | Path, model: type[M]) -> M:
    """Parse a YAML or JSON file into ``model``; errors name the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(
            f"{path}: not valid {path.suffix.lstrip('.').upper()} ({first})"
        ) from None
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        raise ConfigError(f"{path}: {_location(error['loc'])}: {message}") from None
