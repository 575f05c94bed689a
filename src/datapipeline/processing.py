"""The process job: the lake's (or the warehouse's) tables → graph.json, rejected rows, report.

``datapipeline process``, ``run_process.py`` and the Airflow graph task call :func:`process`:
the tables go through the local engine's in-memory run of the recipe, so the graph is the one
``datapipeline run`` writes for the same rows.
"""

from __future__ import annotations

from pathlib import Path

from datapipeline.config import ProcessConfig
from datapipeline.engines.local import TableSource, process_tables
from datapipeline.run.outputs import OutputSet
from datapipeline.run.report import RunReport


def process(
    tables: TableSource, output_dir: Path, config: ProcessConfig | None = None
) -> RunReport:
    """The process job: ``tables`` (a :class:`~datapipeline.lake.Lake` or a warehouse) →
    graph.json, rejected rows and run report in ``output_dir``."""
    config = config or ProcessConfig()
    with OutputSet(output_dir, config) as outputs:
        return process_tables(tables, outputs, config)
