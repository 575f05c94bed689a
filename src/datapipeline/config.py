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
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from datapipeline.errors import ConfigError, LakeError
from datapipeline.extract.database import env_name
from datapipeline.lake import validate_name
from datapipeline.schema import KINDS, SALES_TABLES
from datapipeline.security import check_file_name
from datapipeline.suggest import did_you_mean

DEFAULT_CONFIG_DIR = Path("config")
#: Environment variable naming the config folder (the CLI's ``--config-dir`` wins over it).
CONFIG_DIR_ENV = "DATAPIPELINE_CONFIG_DIR"
#: Every kind of rows a source may hold: the graph's inputs and the sales tables of the queries.
SOURCE_KINDS = (*KINDS, *SALES_TABLES)
#: Option keys that would hold a password (``password_env`` names a variable: allowed).
SECRET_KEYS = ("password", "passwd", "pwd")
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


class KeyProblem(ValueError):
    """A validator's error about a key below the one it validates: ``loc`` (e.g.
    ``("query", "password")`` under ``options``) is appended to the key the error names."""

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def _secret_keys(value: object, loc: tuple[int | str, ...] = ()) -> list[tuple[int | str, ...]]:
    """Where ``value`` (nested dicts and lists) has a key that would hold a password."""
    found: list[tuple[int | str, ...]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = str(key).lower()
            if name in SECRET_KEYS or name.endswith("_password"):
                found.append((*loc, str(key)))
            found += _secret_keys(item, (*loc, str(key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _secret_keys(item, (*loc, i))
    return found


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Model):
    """One source of the import job."""

    source_id: str = Field(
        description="Unique name of the source (in logs, and the state of a database source)."
    )
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

    @field_validator("source")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # a path or query with a NUL cannot be opened or sent: the OS and drivers refuse it
        if "\x00" in value:
            raise ValueError("contains a NUL byte (\\x00): expected a path, table or query")
        return value

    @model_validator(mode="after")
    def _no_password(self) -> Source:
        # Passwords come from the environment or an Airflow connection, never from a file:
        # refused wherever they hide in the options (options.query.password is sent to the
        # driver as is).
        found = _secret_keys(self.options, ("options",))
        if found:
            raise KeyProblem(
                found[0],
                "passwords are never read from config files; set the environment variable "
                f"{env_name(self.source_id, 'PASSWORD')} (or options.password_env, or an "
                "Airflow connection with options.conn_id)",
            )
        return self

    @property
    def source_kind(self) -> str:
        """The kind of rows this source holds (``kind``, else ``dest_table``; any case)."""
        kind = self.kind or self.dest_table
        if kind.lower() in SOURCE_KINDS:
            return kind.lower()
        raise ConfigError(
            f"source {self.source_id!r}: kind {kind!r} unknown; set 'kind' to one of "
            f"{', '.join(SOURCE_KINDS)}{did_you_mean(kind, SOURCE_KINDS)}"
        )


class ImportConfig(_Model):
    """``file_to_import.yaml``."""

    sources: list[Source]

    @field_validator("sources")
    @classmethod
    def _unique_ids(cls, sources: list[Source]) -> list[Source]:
        # each source writes the lake part named after its id: two would overwrite each other
        first: dict[str, int] = {}
        for i, source in enumerate(sources):
            if source.source_id in first:
                raise KeyProblem(
                    (i, "source_id"),
                    f"{source.source_id!r} appears twice (sources[{first[source.source_id]}] "
                    f"and sources[{i}]): each source writes the lake part named after its id",
                )
            first[source.source_id] = i
        return sources

    def source(self, source_id: str) -> Source:
        """The source named ``source_id``; a clear error lists the known ones."""
        for source in self.sources:
            if source.source_id == source_id:
                return source
        ids = [s.source_id for s in self.sources]
        raise ConfigError(
            f"unknown source_id {source_id!r}: expected one of {', '.join(ids)}"
            f"{did_you_mean(source_id, ids)}"
        )


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
            known = sorted(self.environments)
            raise ConfigError(
                f"unknown environment {name!r}: expected one of {', '.join(known)}"
                f"{did_you_mean(name, known)}"
            ) from None


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


def _unwrapped(annotation: Any) -> Any:
    """``X`` for ``X | None``; None for a union of several types."""
    while get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) != 1:
            return None
        annotation = args[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model that validates the object at ``loc`` under ``model`` (None when not one):
    ``("sources", 0)`` under :class:`ImportConfig` is :class:`Source`."""
    annotation: Any = model
    for part in loc:
        annotation = _unwrapped(annotation)
        if _is_model(annotation):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return None
            annotation = field.annotation
        elif get_origin(annotation) in (list, dict):
            annotation = get_args(annotation)[-1]
        else:
            return None
    annotation = _unwrapped(annotation)
    return annotation if _is_model(annotation) else None


def _syntax_error(path: Path, text: str, exc: json.JSONDecodeError | yaml.YAMLError) -> ConfigError:
    """One line for a JSON or YAML syntax error: the file, line and column, and the problem."""
    what = f"not valid {path.suffix.lstrip('.').upper() or 'YAML'}"
    if isinstance(exc, json.JSONDecodeError):
        return ConfigError(f"{path}: line {exc.lineno} column {exc.colno}: {what} ({exc.msg})")
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        line, column = mark.line + 1, mark.column + 1
    elif isinstance(exc, yaml.reader.ReaderError):  # a character YAML refuses (a NUL…)
        at = exc.position
        line, column = text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        problem = f"character {code:#06x}: {exc.reason}"
    else:
        return ConfigError(f"{path}: {what} ({problem})")
    return ConfigError(f"{path}: line {line} column {column}: {what} ({problem})")


def load_file(path: str | Path, model: type[M]) -> M:
    """Parse a YAML or JSON file into ``model``; errors name the file and the key (or the
    line and column of a syntax error), and an unknown key suggests the closest allowed one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise _syntax_error(path, text, exc) from None
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_error(exc, model)}") from None


def describe_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """``key: what is wrong`` for the first error of ``exc``: an unknown key with the closest
    allowed one, a :class:`KeyProblem` at the key it names."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, KeyProblem):
        loc += problem.loc
        message = str(problem)
    if error["type"] == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = list(parent.model_fields) if parent is not None else []
        message = "unknown key" + did_you_mean(str(loc[-1]), allowed)
    return f"{_location(loc)}: {message}"
