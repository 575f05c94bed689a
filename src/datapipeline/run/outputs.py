"""A run's outputs: graph.json, the rejected rows and the run report, written atomically.

Every engine writes through these functions; the report and the rejected rows go through
:func:`~datapipeline.security.redact`: a source named by a URL with a password never shows it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from datapipeline.atomic import atomic_open
from datapipeline.config import ProcessConfig
from datapipeline.kernels.node_link import Chunk, render_node_link
from datapipeline.mentions.assembly import save_graph
from datapipeline.mentions.recipe import MentionResult, sorted_rejected_rows
from datapipeline.repairs import Repair
from datapipeline.run.imports import RejectedFile, rejected_file_rows
from datapipeline.run.report import GraphSummary, RunReport
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW
from datapipeline.security import inside, redact, redact_document


@dataclass(frozen=True)
class OutputPaths:
    """Where a run's three outputs go (checked to stay inside the output folder)."""

    graph: Path
    rejected: Path
    report: Path

    @classmethod
    def of(cls, output_dir: Path, config: ProcessConfig) -> OutputPaths:
        """The paths of ``config``'s output files in ``output_dir``."""
        return cls(
            graph=inside(output_dir, config.graph_file, "graph_file"),
            rejected=inside(output_dir, config.rejected_file, "rejected_file"),
            report=inside(output_dir, config.report_file, "report_file"),
        )

    def to_dict(self) -> dict[str, str]:
        """The run report's ``outputs``."""
        return {
            "graph": str(self.graph),
            "rejected_rows": str(self.rejected),
            "report": str(self.report),
        }


def rejected_lines(rejected: pl.DataFrame) -> list[str]:
    """One JSON object per rejected row: table, file, row, reason and the record as read.

    File names are redacted (a source given as a URL with a password does not show it).
    """
    files = rejected.get_column(SOURCE_FILE).drop_nulls().unique().to_list()
    redacted = [redact(f) for f in files]
    if redacted != files:
        rejected = rejected.with_columns(pl.col(SOURCE_FILE).replace(files, redacted))
    head = pl.struct(
        pl.col("table"),
        pl.col(SOURCE_FILE).alias("file"),
        pl.col(SOURCE_ROW).alias("row"),
        pl.col("reason"),
    ).struct.json_encode()
    # the record is already JSON: spliced in as the last member, not encoded again
    line = pl.concat_str(head.str.strip_suffix("}"), pl.lit(',"record":'), "record", pl.lit("}"))
    return rejected.select(line).to_series().to_list()


def write_rejected(rejected: pl.DataFrame, path: Path) -> None:
    """The rejected rows (with their reasons), one JSON line each, atomically."""
    with atomic_open(path) as handle:
        for line in rejected_lines(rejected):
            handle.write(line + "\n")


def write_report(report: RunReport, path: Path) -> None:
    """The run report as JSON, atomically, secrets redacted."""
    with atomic_open(path) as handle:
        document = redact_document(report.to_dict())
        handle.write(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_outputs(
    result: MentionResult,
    output_dir: Path,
    config: ProcessConfig,
    repairs: list[Repair] | None = None,
    rejected_files: list[RejectedFile] | None = None,
) -> RunReport:
    """Write graph, rejected rows and report into ``output_dir``, each atomically.
    ``rejected_files``: input files refused whole, listed in the report and the rejected rows.

    The report and the rejected rows go through :func:`redact`: a source named by a URL with a
    password never shows it.
    """
    paths = OutputPaths.of(output_dir, config)
    # graph.json (the big one, encoded on threads, then fsynced) is written meanwhile
    with ThreadPoolExecutor(1, thread_name_prefix="graph-file") as pool:
        saving = pool.submit(save_graph, result.graph, paths.graph)
        write_rejected(with_rejected_files(result.rejected, rejected_files or []), paths.rejected)
        saving.result()
    report = RunReport(
        accounts=result.accounts,
        graph=GraphSummary.of_tables(result.graph).to_dict(result.graph.drugs),
        outputs=paths.to_dict(),
        repairs=list(repairs if repairs is not None else result.repairs),
        rejected_files=list(rejected_files or []),
    )
    write_report(report, paths.report)
    return report


def with_rejected_files(rejected: pl.DataFrame, files: list[RejectedFile]) -> pl.DataFrame:
    """The rejected rows with a line for each file refused whole, in their order."""
    if not files:
        return rejected
    return sorted_rejected_rows([rejected, rejected_file_rows(files)])


def save_node_link(path: Path, nodes: Iterable[Chunk], edges: Iterable[Chunk]) -> None:
    """Write graph.json from chunks of node and edge rows (see
    :func:`~datapipeline.kernels.node_link.render_node_link`), atomically."""
    with atomic_open(path, binary=True) as handle:
        for piece in render_node_link(nodes, edges):
            handle.write(piece)
