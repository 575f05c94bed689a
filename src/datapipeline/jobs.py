"""The main job (``datapipeline run``): the dispatcher above the engines.

The import job is :mod:`datapipeline.importing`, the process job :mod:`datapipeline.processing`;
the CLI, the seed's scripts, the Airflow tasks and the tests call these three.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from datapipeline.engines import AUTO, RunRequest, choose_engine, get_engine
from datapipeline.progress import Progress, quiet
from datapipeline.run.report import RunReport

log = logging.getLogger(__name__)


def run(
    data_dir: Path | None,
    lake_dir: str,
    output_dir: Path,
    progress: Progress = quiet,
    *,
    engine: str = AUTO,
    full_refresh: bool = False,
    beam_args: Sequence[str] = (),
    on_bad_file: str = "fail",
) -> RunReport:
    """The main job: import every source found in ``data_dir`` (default: the sample data)
    into the lake at ``lake_dir``, then write graph.json, the rejected rows and the run report
    into ``output_dir``.

    Runs are incremental: only input files that changed are imported, only titles not matched
    yet are matched; ``full_refresh`` rebuilds all. ``engine`` names one of
    :mod:`datapipeline.engines` (``beam_args`` are the Beam engine's pipeline options);
    ``auto`` picks local or stream (:func:`~datapipeline.engines.choose_engine`).
    ``on_bad_file="skip"`` lists a file its reader refuses whole as rejected and goes on.
    """
    if engine == AUTO:
        engine = choose_engine(data_dir)
        log.info("engine: %s", engine)
    request = RunRequest(
        data_dir=data_dir,
        lake=lake_dir,
        output_dir=output_dir,
        progress=progress,
        full_refresh=full_refresh,
        options=tuple(beam_args),
        on_bad_file=on_bad_file,
    )
    return get_engine(engine)(request)
