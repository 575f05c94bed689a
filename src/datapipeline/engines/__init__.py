"""Engines: the ways to run the main job, registered by name like the readers.

Every engine runs the same steps (:mod:`datapipeline.mentions.recipe`) over the same sources
(:mod:`datapipeline.run.sources`) and writes the same outputs through the run layer
(:mod:`datapipeline.run.outputs`), byte for byte; they differ in how rows are brought together:

- ``local``: every table in memory (:mod:`datapipeline.engines.local`); reruns match only the
  titles not matched yet;
- ``stream``: the lake part by part, spilled buckets, bounded memory
  (:mod:`datapipeline.engines.stream`);
- ``beam``: an Apache Beam pipeline, on one machine or many (:mod:`datapipeline.beam`).

``auto`` picks ``local`` or ``stream`` by the size of the input (:func:`choose_engine`).
An engine's module is imported only when it runs: Beam is an optional dependency.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from datapipeline.errors import ConfigError
from datapipeline.progress import Progress, quiet
from datapipeline.run.sources import SAMPLE_DATA_DIR, discover_sources

if TYPE_CHECKING:
    from datapipeline.lake import Lake
    from datapipeline.lake.parts import Manifest
    from datapipeline.run.imports import Changes, Pack
    from datapipeline.run.report import RunReport


@dataclass(frozen=True)
class RunRequest:
    """What the main job is asked to do, whatever the engine."""

    #: the input folder (None: the shipped sample data)
    data_dir: Path | None
    #: the lake: a folder or gs:// URL
    lake: str
    output_dir: Path
    progress: Progress = quiet
    #: import every file and match every title again
    full_refresh: bool = False
    #: the engine's own options (Beam pipeline options)
    options: Sequence[str] = ()
    #: a file its reader refuses whole: ``fail`` (stop the run) or ``skip`` (list it and go on)
    on_bad_file: str = "fail"

    @property
    def data_folder(self) -> Path:
        """The input folder, the sample data when none was given."""
        return self.data_dir or SAMPLE_DATA_DIR

    def import_files(
        self, lake: Lake, changes: Changes, on_part: Callable[[Pack], None]
    ) -> Manifest:
        """The import step as this request asks it (:func:`~datapipeline.run.imports.import_changed`
        of the data folder's files); ``on_part`` is given each part written."""
        from datapipeline.run.imports import import_changed
        from datapipeline.run.sources import read_source

        return import_changed(
            discover_sources(self.data_folder),
            lake,
            changes,
            read_source,
            on_part,
            self.progress,
            full_refresh=self.full_refresh,
            skip_bad_files=self.on_bad_file == "skip",
        )


class Engine(Protocol):
    """Runs the main job for a request; returns its report."""

    def __call__(self, request: RunRequest) -> RunReport: ...


#: Engine name → ``module:function``, imported when the engine runs.
_ENGINES: dict[str, str] = {}


def register_engine(name: str, target: str) -> None:
    """Register the engine ``name``: ``target`` is ``"package.module:function"``."""
    _ENGINES[name] = target


register_engine("local", "datapipeline.engines.local:run_local")
register_engine("stream", "datapipeline.engines.stream:run_stream")
register_engine("beam", "datapipeline.beam:run_engine")

#: The names ``datapipeline run --engine`` accepts.
AUTO = "auto"


def engine_names() -> list[str]:
    """``auto``, then the registered engines."""
    return [AUTO, *_ENGINES]


def get_engine(name: str) -> Engine:
    """The engine registered as ``name``; a clear error lists the known ones."""
    try:
        module, function = _ENGINES[name].split(":")
    except KeyError:
        known = ", ".join(engine_names())
        raise ConfigError(f"unknown engine {name!r}: expected one of {known}") from None
    engine: Engine = getattr(importlib.import_module(module), function)
    return engine


#: ``auto`` streams when the local engine's memory, about this many times the size of the
#: input files, would pass half of the memory (benchmarks/README.md has the measurement).
LOCAL_ENGINE_MEMORY_FACTOR = 8


def physical_memory() -> int:
    """Bytes of physical memory of this machine (0 when unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def choose_engine(data_dir: Path | None, memory: int | None = None) -> str:
    """The engine ``auto`` runs: ``stream`` when the input files are too large for the local
    engine to hold in half of ``memory`` (default: this machine's), else ``local``. Both
    write the same bytes; the local engine is the faster on reruns (it caches matches)."""
    memory = physical_memory() if memory is None else memory
    size = sum(Path(s.source).stat().st_size for s in discover_sources(data_dir or SAMPLE_DATA_DIR))
    if memory and size * LOCAL_ENGINE_MEMORY_FACTOR > memory // 2:
        return "stream"
    return "local"
