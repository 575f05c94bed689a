"""``datapipeline check``: the config and the input files checked without running anything.

Everything a run would refuse at its start is found at once, one line per problem: config
files that do not parse (or hold an unknown key, a password, two sources with one id…), a
data folder without one of the sources, an input file its reader refuses (missing, not
decodable, invalid JSON, a missing column…). The files are opened with the readers a run
uses, so a file that passes here is read the same way by ``run`` and ``import``; nothing is
written.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from datapipeline.config import (
    DagConfig,
    ImportConfig,
    ProcessConfig,
    ProjectsList,
    Source,
    load_file,
)
from datapipeline.config_folder import DAG_CONFIG_FILE, ConfigFolder, resolved_sources
from datapipeline.errors import DataPipelineError
from datapipeline.extract import get_reader
from datapipeline.extract.database import DATABASE_TYPES
from datapipeline.repairs import collect as collect_repairs
from datapipeline.run import sources as run_sources
from datapipeline.sales import typed_batches
from datapipeline.schema import SALES_TABLES

#: ``(True, what was checked)`` or ``(False, the problem)``, one line each.
Finding = tuple[bool, str]


def _model_of(path: Path) -> type[BaseModel] | None:
    """The model a config file is read with, by its name (None: not a config file)."""
    if path.name == "projects_list.json":
        return ProjectsList
    if path.name == DAG_CONFIG_FILE:
        return DagConfig
    if path.suffix in (".yaml", ".yml") and path.stem.endswith("_to_import"):
        return ImportConfig
    if path.suffix in (".yaml", ".yml") and path.stem.endswith("_to_process"):
        return ProcessConfig
    return None


def read_rows(source: Source) -> int:
    """Read ``source`` the way an import does (its reader, then its kind's columns and
    types), keeping nothing; the number of rows read."""
    kind = source.source_kind
    if kind in SALES_TABLES:
        reader = get_reader(source.source_type)
        batches = reader(source.source, **run_sources.reader_options(source))
        return sum(b.num_rows for b in typed_batches(iter(batches), kind, source.source))
    return int(run_sources.read_source(source).num_rows)


def _read_findings(sources: list[Source]) -> Iterator[Finding]:
    for source in sources:
        if source.source_type.lower() in DATABASE_TYPES:
            yield True, f"{source.source_id}: database source, not opened here (run the import)"
            continue
        try:
            with collect_repairs() as repairs:
                rows = read_rows(source)
        except DataPipelineError as exc:
            yield False, str(exc)
        except OSError as exc:
            yield False, f"{exc.filename or source.source}: {exc.strerror or exc}"
        else:
            notes = "".join(f", repaired: {r.repair}" for r in sorted(set(repairs)))
            yield (
                True,
                f"{source.source}: {rows} rows ({source.source_type}, {source.source_kind}{notes})",
            )


def _config_findings(folder: ConfigFolder, env: str | None) -> Iterator[Finding]:
    if folder.path is None:
        yield True, "no config folder: the built-in defaults apply"
        if env is not None:
            try:
                folder.environment(env)
            except DataPipelineError as exc:
                yield False, str(exc)
        return
    for path in sorted(folder.path.iterdir()):
        model = _model_of(path)
        if model is None or not path.is_file():
            continue
        try:
            config = load_file(path, model)
            if isinstance(config, ImportConfig):
                for source in config.sources:
                    source.source_kind  # noqa: B018  (an unknown kind is refused here)
        except DataPipelineError as exc:
            yield False, str(exc)
            continue
        yield True, f"{path}: parses"
        if isinstance(config, ImportConfig):
            yield from _read_findings(resolved_sources(config, folder.root).sources)
    if env is not None:
        try:
            folder.environment(env)
        except DataPipelineError as exc:
            yield False, str(exc)
        else:
            yield True, f"environment {env!r} of {folder.path / DAG_CONFIG_FILE}"


def check(folder: ConfigFolder, env: str | None, data_dir: Path) -> Iterator[Finding]:
    """Check the config folder's files (and the environment ``env``), every file source of
    its import configs, and the data folder of ``run``: every source present, every file
    read by its reader."""
    yield from _config_findings(folder, env)
    if data_dir.is_dir():
        names = [p.name.lower() for p in data_dir.iterdir() if p.is_file()]
        for kind, patterns in run_sources.DATA_DIR_PATTERNS.items():
            if not any(fnmatch.fnmatch(n, pattern) for n in names for pattern, _ in patterns):
                wanted = " or ".join(p for p, _ in patterns)
                yield False, f"{data_dir}: no {kind} source: expected a file named {wanted}"
    try:
        sources = run_sources.discover_sources(data_dir)
    except DataPipelineError as exc:
        if not data_dir.is_dir():
            yield False, str(exc)
        return  # each missing source is told above
    yield True, f"{data_dir}: {len(sources)} input files, every source present"
    yield from _read_findings(sources)
