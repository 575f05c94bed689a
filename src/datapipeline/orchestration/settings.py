"""What the DAG factory builds, read from ``config/`` and checked before any DAG exists.

Pure Python (no Airflow import): the DAG file's parse-time work, and what the tests check
without a scheduler. Every error is a :class:`ConfigError` naming the file and the key, so a
broken config is an import error of the DAG file that says what to fix -- never zero DAGs.

Path rules (the DAG processor and the task workers run in any folder, so nothing here is
relative to the current directory):

- ``dags.<type>.config_file`` in ``dag_config.yaml`` is relative to the config folder (as the
  file itself says);
- data paths -- the sources of ``file_to_import.yaml``, the environment's ``lake``,
  ``output`` and DuckDB ``warehouse.path`` -- are relative to the project root, the folder
  holding ``config/``, like the CLI run from that folder. URLs (``gs://…``) and database
  sources (whose ``source`` is a table or a query) are kept as written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from datapipeline.config import (
    CONFIG_DIR_ENV,
    DAG_TYPES,
    DagConfig,
    DagDefaults,
    DagType,
    DagTypeName,
    Environment,
    ImportConfig,
    ProcessConfig,
    Project,
    ProjectsList,
    load_file,
)
from datapipeline.config_folder import resolved_environment as _resolved_env
from datapipeline.config_folder import under_root as _under
from datapipeline.errors import ConfigError
from datapipeline.extract.database import DATABASE_TYPES

__all__ = ["CONFIG_DIR_ENV", "ProjectDags", "config_dir_for", "load_projects"]

PROJECTS_FILE = "projects_list.json"
DAG_CONFIG_FILE = "dag_config.yaml"


def config_dir_for(dag_file: str | os.PathLike[str]) -> Path:
    """The config folder a DAG file uses: ``$DATAPIPELINE_CONFIG_DIR``, else ``../config``."""
    value = os.environ.get(CONFIG_DIR_ENV)
    if value:
        return Path(value).expanduser().resolve()
    return Path(dag_file).resolve().parent.parent / "config"


@dataclass(frozen=True)
class ProjectDags:
    """One project in one environment: the DAGs to build and everything their tasks need."""

    project: str
    env_name: str
    env: Environment  #: with lake, output and DuckDB path made absolute
    defaults: DagDefaults
    types: dict[DagTypeName, DagType]  #: the DAG types to build, settings merged
    imports: ImportConfig | None  #: with local source paths made absolute
    process: ProcessConfig | None
    config_files: dict[DagTypeName, Path]  #: the file each DAG type read, for doc_md

    def dag_id(self, dag_type: str) -> str:
        """``<project>__<env>__<type>``: the project and the environment show in the UI."""
        return f"{self.project}__{self.env_name}__{dag_type}"

    @property
    def warehouse_tables(self) -> list[str]:
        """The lake tables the import DAG writes, hence loads into the warehouse."""
        return sorted({s.dest_table for s in self.imports.sources}) if self.imports else []


def _merged(base: DagType | None, override: DagType | None) -> DagType:
    """``override``'s fields that are set win over ``base``'s."""
    merged = (base or DagType()).model_dump()
    if override is not None:
        merged.update(override.model_dump(exclude_unset=True))
    return DagType.model_validate(merged)


def _resolved_imports(config: ImportConfig, path: Path, root: Path) -> ImportConfig:
    if not config.sources:
        raise ConfigError(f"{path}: sources: empty (the import DAG would have nothing to map)")
    sources = []  # two sources with one id are refused when the file is read (ImportConfig)
    for i, source in enumerate(config.sources):
        try:
            source.source_kind  # noqa: B018  (validates kind / dest_table now, not at run time)
        except ConfigError as exc:
            raise ConfigError(f"{path}: sources[{i}]: {exc}") from None
        if source.source_type not in DATABASE_TYPES:
            source = source.model_copy(update={"source": _under(root, source.source)})
        sources.append(source)
    return config.model_copy(update={"sources": sources})


def _config_file(
    dag_config_path: Path, key: str, dag_type: DagType, config_dir: Path, required: bool
) -> Path | None:
    if dag_type.config_file is None:
        if required:
            raise ConfigError(f"{dag_config_path}: {key}.config_file: missing (required)")
        return None
    path = config_dir / dag_type.config_file
    if not path.is_file():
        raise ConfigError(
            f"{dag_config_path}: {key}.config_file: {dag_type.config_file!r} not found "
            f"(looked for {path})"
        )
    return path


def load_projects(config_dir: str | os.PathLike[str]) -> list[ProjectDags]:
    """Read and check the whole orchestration config under ``config_dir``.

    Raises :class:`ConfigError` naming the file and key on: a missing or malformed file, an
    unknown DAG type or environment, a missing ``config_file``, an orchestrator without the
    import and process DAGs it triggers, a project listed twice, two projects writing to one
    environment, or no project at all.
    """
    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        raise ConfigError(f"{config_dir}: config folder not found (set {CONFIG_DIR_ENV})")
    root = config_dir.resolve().parent
    projects_path = config_dir / PROJECTS_FILE
    dag_config_path = config_dir / DAG_CONFIG_FILE
    projects = load_file(projects_path, ProjectsList).projects
    dag_config = load_file(dag_config_path, DagConfig)
    if not projects:
        raise ConfigError(f"{projects_path}: projects: empty (no DAG would be built)")

    owners: dict[str, str] = {}
    result = []
    for i, project in enumerate(projects):
        key = f"projects[{i}]"
        result.append(
            _project(project, key, dag_config, config_dir, root, projects_path, dag_config_path)
        )
        if project.env in owners:
            raise ConfigError(
                f"{projects_path}: {key}.env: {project.env!r} is already used by project "
                f"{owners[project.env]!r}: two projects in one environment would overwrite "
                "each other's lake and outputs"
            )
        owners[project.env] = project.name
    return result


def _project(
    project: Project,
    key: str,
    dag_config: DagConfig,
    config_dir: Path,
    root: Path,
    projects_path: Path,
    dag_config_path: Path,
) -> ProjectDags:
    if project.env not in dag_config.environments:
        known = ", ".join(sorted(dag_config.environments)) or "none"
        raise ConfigError(
            f"{projects_path}: {key}.env: unknown environment {project.env!r}: expected one "
            f"of {known} (environments of {dag_config_path})"
        )
    wanted = list(dict.fromkeys(project.dag_types))
    if not wanted:
        raise ConfigError(f"{projects_path}: {key}.dag_types: empty (no DAG would be built)")
    if "orchestrator" in wanted and not {"import", "process"} <= set(wanted):
        raise ConfigError(
            f"{projects_path}: {key}.dag_types: the orchestrator triggers the import and "
            "process DAGs: list them too"
        )
    types: dict[DagTypeName, DagType] = {}
    files: dict[DagTypeName, Path] = {}
    imports: ImportConfig | None = None
    process: ProcessConfig | None = None
    for dag_type in (t for t in DAG_TYPES if t in wanted):
        override = project.dags.get(dag_type)
        merged = _merged(dag_config.dags.get(dag_type), override)
        types[dag_type] = merged
        where = (
            (projects_path, f"{key}.dags.{dag_type}")
            if override is not None and "config_file" in override.model_fields_set
            else (dag_config_path, f"dags.{dag_type}")
        )
        if dag_type == "import":
            path = _config_file(*where, merged, config_dir, required=True)
            assert path is not None
            imports = _resolved_imports(load_file(path, ImportConfig), path, root)
            files["import"] = path
        elif dag_type == "process":
            found = _config_file(*where, merged, config_dir, required=False)
            process = load_file(found, ProcessConfig) if found else ProcessConfig()
            if found:
                files["process"] = found
    return ProjectDags(
        project=project.name,
        env_name=project.env,
        env=_resolved_env(dag_config.environments[project.env], root),
        defaults=dag_config.defaults,
        types=types,
        imports=imports,
        process=process,
        config_files=files,
    )
