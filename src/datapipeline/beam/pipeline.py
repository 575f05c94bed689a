"""The Beam driver: build the pipeline for a data folder, run it, return the run report.

``datapipeline run --engine beam [--runner R] [beam pipeline options…]`` and
``python -m datapipeline.beam --data-dir D --output-dir O [beam pipeline options…]`` end here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineState

from datapipeline.beam.transforms import BATCH_ROWS, SHARDS, BuildMentions
from datapipeline.config import ProcessConfig, Source
from datapipeline.errors import ConfigError, InputError
from datapipeline.jobs import SAMPLE_DATA_DIR, RunReport, discover_sources, sources_from_files
from datapipeline.mentions.parquet_graph import table_paths
from datapipeline.mentions.transform import MentionResult, SourceAccount

log = logging.getLogger(__name__)

#: Runners that execute in this process. ``DirectRunner`` first tries Prism, which downloads a
#: Go binary on first use; the driver runs those pipelines on Beam's FnApiRunner directly (the
#: engine the DirectRunner falls back to for batch pipelines) unless ``--prism_location`` names
#: a local Prism binary.
_IN_PROCESS = ("DirectRunner", "SwitchingDirectRunner")


def is_remote(location: str) -> bool:
    """Whether ``location`` is a URL (gs://…) rather than a local path."""
    return "://" in location and not location.startswith("file://")


def discover(data_dir: str) -> list[Source]:
    """The sources of a data folder, local or remote (listed through Beam's file systems)."""
    if not is_remote(data_dir):
        return discover_sources(Path(data_dir.removeprefix("file://")))
    from apache_beam.io.filesystems import FileSystems

    (result,) = FileSystems.match([data_dir.rstrip("/") + "/*"])
    if not result.metadata_list:
        raise InputError(f"{data_dir}: data folder empty or not found")
    return sources_from_files([m.path for m in result.metadata_list], data_dir)


def write_result(result: MentionResult, output_dir: str, config: ProcessConfig) -> None:
    """Write graph, rejected rows and report with the default engine's writer.

    A remote ``output_dir`` (gs://…) gets files written locally first, then copied.
    """
    from datapipeline.jobs import write_outputs

    if not is_remote(output_dir):
        write_outputs(result, Path(output_dir.removeprefix("file://")), config)
        return
    from apache_beam.io.filesystems import FileSystems

    base = output_dir.rstrip("/")
    with tempfile.TemporaryDirectory() as folder:
        report = write_outputs(result, Path(folder), config)
        report.outputs = {k: f"{base}/{Path(v).name}" for k, v in report.outputs.items()}
        Path(folder, config.report_file).write_text(
            json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        graph_tables = table_paths(Path(folder, config.graph_file)).values()
        tables = [str(path.relative_to(folder)) for path in graph_tables]
        for name in (config.graph_file, config.rejected_file, config.report_file, *tables):
            with (
                open(os.path.join(folder, name), "rb") as local,
                FileSystems.create(f"{base}/{name}") as remote,
            ):
                remote.write(local.read())


def read_report(output_dir: str, config: ProcessConfig) -> RunReport:
    """The run report the pipeline wrote, as a :class:`RunReport`."""
    location = f"{output_dir.rstrip('/')}/{config.report_file}"
    if is_remote(output_dir):
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(location) as handle:
            data = json.loads(handle.read().decode("utf-8"))
    else:
        data = json.loads(Path(location.removeprefix("file://")).read_text(encoding="utf-8"))
    accounts = {k: SourceAccount(**v) for k, v in data["sources"].items()}
    return RunReport(accounts=accounts, graph=data["graph"], outputs=data["outputs"])


def pipeline_options(beam_args: Sequence[str]) -> PipelineOptions:
    """Beam options from ``beam_args``; in-process runners run on the FnApiRunner (no Prism
    download) unless a local Prism binary is given."""
    options = PipelineOptions(list(beam_args))
    standard = options.view_as(StandardOptions)
    all_options = options.get_all_options(retain_unknown_options=True)
    if (standard.runner or "DirectRunner") in _IN_PROCESS and not all_options.get("prism_location"):
        standard.runner = "FnApiRunner"
    return options


def build(
    pipeline: beam.Pipeline,
    sources: list[Source],
    output_dir: str,
    config: ProcessConfig,
    shards: int = SHARDS,
    batch_rows: int = BATCH_ROWS,
) -> beam.PCollection:
    """Add the main job to ``pipeline``: read ``sources``, write the outputs to ``output_dir``."""
    return (
        pipeline
        | "Build mentions" >> BuildMentions(sources, shards=shards, batch_rows=batch_rows)
        | "Write outputs" >> beam.Map(write_result, output_dir, config)
    )


def run_beam(
    data_dir: str | os.PathLike[str] | None,
    output_dir: str | os.PathLike[str],
    beam_args: Sequence[str] = (),
    *,
    shards: int = SHARDS,
    batch_rows: int = BATCH_ROWS,
    config: ProcessConfig | None = None,
) -> RunReport:
    """Run the main job on Beam; waits for the pipeline and returns its report."""
    config = config or ProcessConfig()
    if shards < 1 or batch_rows < 1:
        raise ConfigError("--shards and --batch-rows must be at least 1")
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
    build(pipeline, sources, output, config, shards=shards, batch_rows=batch_rows)
    result = pipeline.run()
    result.wait_until_finish()
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
    )
