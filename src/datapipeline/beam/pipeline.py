"""The Beam driver: build the pipeline for a data folder, run it, return the run report.

``datapipeline run --engine beam [--runner R] [beam pipeline options…]`` and
``python -m datapipeline.beam --data-dir D --output-dir O [beam pipeline options…]`` end here.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineState

from datapipeline.beam.job import MainJob
from datapipeline.beam.outputs import is_remote, parts_folder, read_report, remove_parts_folder
from datapipeline.beam.runners import check_runner
from datapipeline.beam.transforms import BATCH_ROWS, ROWS_PER_RANGE, SHARDS
from datapipeline.config import ProcessConfig, Source
from datapipeline.errors import ConfigError, InputError
from datapipeline.run.report import RunReport
from datapipeline.run.sources import SAMPLE_DATA_DIR, discover_sources, sources_from_files

log = logging.getLogger(__name__)

#: Runners that execute in this process. ``DirectRunner`` first tries Prism, which downloads a
#: Go binary on first use; the driver runs those pipelines on Beam's FnApiRunner directly (the
#: engine the DirectRunner falls back to for batch pipelines) unless ``--prism_location`` names
#: a local Prism binary.
_IN_PROCESS = ("DirectRunner", "SwitchingDirectRunner")


def discover(data_dir: str) -> list[Source]:
    """The sources of a data folder, local or remote (listed through Beam's file systems)."""
    if not is_remote(data_dir):
        return discover_sources(Path(data_dir.removeprefix("file://")))
    from apache_beam.io.filesystems import FileSystems

    (result,) = FileSystems.match([data_dir.rstrip("/") + "/*"])
    if not result.metadata_list:
        raise InputError(f"{data_dir}: data folder empty or not found")
    return sources_from_files([m.path for m in result.metadata_list], data_dir)


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options from ``beam_args``; in-process runners run on the FnApiRunner (no Prism
    download) unless a local Prism binary is given."""
    options = PipelineOptions(list(beam_args))
    standard = options.view_as(StandardOptions)
    check_runner(standard.runner, StandardOptions.KNOWN_RUNNER_NAMES)
    all_options = options.get_all_options(retain_unknown_options=True)
    if (standard.runner or "DirectRunner") in _IN_PROCESS and not all_options.get("prism_location"):
        standard.runner = "FnApiRunner"
    return options


def build(
    pipeline: beam.Pipeline,
    sources: list[Source],
    output_dir: str,
    config: ProcessConfig,
    *,
    shards: int = SHARDS,
    batch_rows: int = BATCH_ROWS,
    rows_per_range: int = ROWS_PER_RANGE,
) -> str:
    """Add the main job to ``pipeline``: read ``sources``, write the outputs to ``output_dir``.
    Returns the folder the ranges of graph.json go through (removed when the job ends)."""
    parts_dir = parts_folder(output_dir)
    pipeline | "Main job" >> MainJob(
        sources,
        output_dir,
        parts_dir,
        config,
        shards=shards,
        batch_rows=batch_rows,
        rows_per_range=rows_per_range,
    )
    return parts_dir


def run_beam(
    data_dir: str | os.PathLike[str] | None,
    output_dir: str | os.PathLike[str],
    beam_args: Sequence[str] = (),
    *,
    shards: int = SHARDS,
    batch_rows: int = BATCH_ROWS,
    rows_per_range: int = ROWS_PER_RANGE,
    config: ProcessConfig | None = None,
) -> RunReport:
    """Run the main job on Beam; waits for the pipeline and returns its report."""
    config = config or ProcessConfig()
    if shards < 1 or batch_rows < 1 or rows_per_range < 1:
        raise ConfigError("--shards, --batch-rows and --rows-per-range must be at least 1")
    data = str(data_dir) if data_dir is not None else str(SAMPLE_DATA_DIR)
    output = str(output_dir)
    if not is_remote(data):
        data = str(Path(data))  # the same spelling discover_sources gives the default engine
    if not is_remote(output):
        output = str(Path(output))  # reported as given, like the default engine does
    sources = discover(data)
    options = pipeline_options(beam_args)
    log.info("beam: %d sources, runner %s", len(sources), options.view_as(StandardOptions).runner)
    pipeline = beam.Pipeline(options=options)
    parts_dir = build(
        pipeline,
        sources,
        output,
        config,
        shards=shards,
        batch_rows=batch_rows,
        rows_per_range=rows_per_range,
    )
    try:
        result = pipeline.run()
        result.wait_until_finish()
    finally:
        remove_parts_folder(parts_dir)
    if result.state != PipelineState.DONE:
        raise InputError(f"beam pipeline ended in state {result.state}")
    return read_report(output, config)


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """This driver's own arguments, and the rest (Beam pipeline options)."""
    parser = argparse.ArgumentParser(
        prog="python -m datapipeline.beam",
        description="Run the main job (data folder → graph.json) on Apache Beam. Arguments "
        "not listed here are Beam pipeline options (--runner, --project, --region…).",
    )
    parser.add_argument("--data-dir", default=None, help="input folder, local or gs://")
    parser.add_argument("--output-dir", default="processed_data", help="output folder or gs://")
    parser.add_argument("--shards", type=int, default=SHARDS, help="shards of each shuffle")
    parser.add_argument("--batch-rows", type=int, default=BATCH_ROWS, help="rows per batch")
    parser.add_argument(
        "--rows-per-range",
        type=int,
        default=ROWS_PER_RANGE,
        help="mentions per range of graph.json (what one worker assembles at once)",
    )
    return parser.parse_known_args(argv)


def run(argv: Sequence[str] | None = None) -> RunReport:
    """The driver: parse ``argv`` (own arguments, then Beam options), run, return the report."""
    args, beam_args = parse_args(argv)
    return run_beam(
        args.data_dir,
        args.output_dir,
        beam_args,
        shards=args.shards,
        batch_rows=args.batch_rows,
        rows_per_range=args.rows_per_range,
    )
