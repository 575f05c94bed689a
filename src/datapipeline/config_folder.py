"""Where the config files are, and what their relative paths mean, whatever the current folder.

The config folder is ``--config-dir``, else ``$DATAPIPELINE_CONFIG_DIR``, else ``config/`` in
the current folder when there is one, else none: then the built-in defaults apply (the main
job needs no config at all). Relative data paths written in config files (the sources of an
import config, an environment's ``lake``, ``output`` and DuckDB ``warehouse.path``) are
relative to the project root, the folder holding the config folder, as for the Airflow DAGs;
URLs and database sources are kept as written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from datapipeline.config import (
    CONFIG_DIR_ENV,
    DEFAULT_CONFIG_DIR,
    DagConfig,
    Environment,
    ImportConfig,
    load_file,
)
from datapipeline.errors import ConfigError
from datapipeline.extract.database import DATABASE_TYPES

DAG_CONFIG_FILE = "dag_config.yaml"
IMPORT_FILE = "file_to_import.yaml"
PROCESS_FILE = "file_to_process.yaml"


def under_root(root: Path, value: str) -> str:
    """``value`` as a path under ``root`` unless it is a URL or already absolute."""
    if "://" in value or value == ":memory:":
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else root / path)


def resolved_environment(env: Environment, root: Path) -> Environment:
    """``env`` with its lake, output and DuckDB file under ``root``."""
    warehouse = env.warehouse
    if warehouse.backend == "duckdb" and warehouse.path:
        warehouse = warehouse.model_copy(update={"path": under_root(root, warehouse.path)})
    return env.model_copy(
        update={
            "lake": under_root(root, env.lake),
            "output": under_root(root, env.output),
            "warehouse": warehouse,
        }
    )


def resolved_sources(config: ImportConfig, root: Path) -> ImportConfig:
    """``config`` with the paths of its file sources under ``root``."""
    sources = [
        s
        if s.source_type.lower() in DATABASE_TYPES
        else s.model_copy(update={"source": under_root(root, s.source)})
        for s in config.sources
    ]
    return config.model_copy(update={"sources": sources})


@dataclass(frozen=True)
class ConfigFolder:
    """The config folder the commands read (``path`` None: none, built-in defaults)."""

    path: Path | None

    @classmethod
    def find(cls, given: Path | None, environ: Mapping[str, str] | None = None) -> ConfigFolder:
        """``given`` (``--config-dir``), else ``$DATAPIPELINE_CONFIG_DIR``, else ``./config``
        when it exists, else none; a folder named but missing is an error."""
        environ = os.environ if environ is None else environ
        origin = "--config-dir"
        if given is None and environ.get(CONFIG_DIR_ENV):
            given, origin = Path(environ[CONFIG_DIR_ENV]).expanduser(), f"${CONFIG_DIR_ENV}"
        if given is not None:
            if not given.is_dir():
                raise ConfigError(f"{given}: config folder not found (given by {origin})")
            return cls(given)
        return cls(DEFAULT_CONFIG_DIR if DEFAULT_CONFIG_DIR.is_dir() else None)

    @property
    def root(self) -> Path:
        """The project root: relative data paths of the config files start there."""
        return self.path.parent if self.path is not None else Path()

    def _missing(self, what: str) -> ConfigError:
        return ConfigError(
            f"{what}: no config folder (looked for {DEFAULT_CONFIG_DIR}/ here); pass "
            f"--config-dir DIR or set {CONFIG_DIR_ENV}"
        )

    def environment(self, name: str | None) -> Environment:
        """The environment ``name`` of ``dag_config.yaml``, its paths under the project root;
        without a name the defaults (``imported_data``, ``processed_data`` here)."""
        if name is None:
            return Environment()
        if self.path is None:
            raise self._missing(f"--env {name}")
        env = load_file(self.path / DAG_CONFIG_FILE, DagConfig).environment(name)
        return resolved_environment(env, self.root)

    def config_file(self, given: Path | None, default_name: str) -> Path | None:
        """The config file to read: ``given`` as written when it exists, else the file of
        that name in the config folder; without one, ``default_name`` in the config folder
        (None when it is absent)."""
        if given is not None:
            if given.exists() or given.is_absolute() or self.path is None:
                return given
            inside = self.path / given
            return inside if inside.exists() else given
        if self.path is None or not (self.path / default_name).is_file():
            return None
        return self.path / default_name

    def import_config(self, given: Path | None) -> tuple[Path, ImportConfig]:
        """The import config (``--config_file`` or ``file_to_import.yaml``), paths resolved."""
        path = self.config_file(given, IMPORT_FILE)
        if path is None:
            where = self.path / IMPORT_FILE if self.path is not None else None
            if where is None:
                raise self._missing("import (or import one file with --source)")
            raise ConfigError(
                f"{where}: config file not found (name one with --config_file, or import one "
                "file with --source)"
            )
        return path, resolved_sources(load_file(path, ImportConfig), self.root)
