"""The import job (sources → lake), the process job (lake → graph) and the main job (both).

These are the functions the CLI, the seed's scripts, the Airflow tasks and the tests call.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from datapipeline.atomic import atomic_open
from datapipeline.config import ProcessConfig, Source
from datapipeline.errors import InputError
from datapipeline.extract import get_reader
from datapipeline.extract.canonical import to_canonical
from datapipeline.lake import Lake
from datapipeline.mentions.graph import save_graph
from datapipeline.mentions.transform import MentionResult, SourceAccount, build_mentions
from datapipeline.repairs import Repair
from datapipeline.repairs import collect as collect_repairs
from datapipeline.schema import KINDS, SOURCE_FILE, SOURCE_ROW
from datapipeline.security import inside, redact

log = logging.getLogger(__name__)

#: ``--data-dir`` layout: file-name patterns per source kind, and the reader for each.
DATA_DIR_PATTERNS: dict[str, tuple[tuple[str, str], ...]] = {
    "drugs": (("drugs*.csv", "csv"),),
    "pubmed": (("pubmed*.csv", "csv"), ("pubmed*.json", "json")),
    "clinical_trials": (("clinical_trials*.csv", "csv"),),
}

SAMPLE_DATA_DIR = Path(__file__).parent / "sample_data"

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class StepTimer:
    """Wall-clock seconds per named step, in the order the steps ran."""

    seconds: dict[str, float] = field(default_factory=dict)
    progress: Progress = _quiet

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as step ``name`` and announce it."""
        self.progress(f"{name} …")
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def read_source(source: Source) -> pa.Table:
    """Read one source with its registered reader into the canonical columns of its kind."""
    kind = KINDS[source.source_kind]
    reader = get_reader(source.source_type)
    batches = list(reader(source.source, **source.options))
    if not batches:
        empty = {c: pa.array([], pa.string()) for c in kind.columns}
        return pa.table(
            {**empty, SOURCE_FILE: pa.array([], pa.string()), SOURCE_ROW: pa.array([], pa.int64())}
        )
    return to_canonical(pa.Table.from_batches(batches), kind, source.source)


def import_source(source: Source, lake: Lake) -> int:
    """Import one source into its lake table (replacing its own part); returns rows written."""
    table = read_source(source)
    lake.write_part(source.dest_table, source.source_id, table)
    log.info(
        "imported %s rows from %s into %s/%s",
        table.num_rows,
        source.source,
        lake.url,
        source.dest_table,
    )
    return table.num_rows


def import_tables(sources: list[Source], lake: Lake) -> dict[str, int]:
    """Import ``sources``, replacing each destination table whole; returns rows per table.

    Unlike :func:`import_source`, parts left by earlier runs with other files are removed:
    the tables hold exactly these sources afterwards.
    """
    by_table: dict[str, list[Source]] = {}
    for source in sources:
        by_table.setdefault(source.dest_table, []).append(source)
    rows: dict[str, int] = {}
    for table_name, table_sources in by_table.items():
        parts = coalesce_parts([(s.source_id, read_source(s)) for s in table_sources])
        lake.replace_table(table_name, parts)
        rows[table_name] = sum(p.num_rows for _, p in parts)
    return rows


#: Sources of one table are grouped into lake parts of up to this many rows: a folder of
#: thousands of small files makes a few parts, not thousands (each part costs one write and
#: one read). A source this big or bigger is a part of its own.
COALESCE_ROWS = 1_000_000


def coalesce_parts(
    parts: list[tuple[str, pa.Table]], max_rows: int = COALESCE_ROWS
) -> list[tuple[str, pa.Table]]:
    """Group consecutive ``(name, table)`` parts into parts of at most ``max_rows`` rows.

    A group of one keeps its name; a group of several is named after its first part
    (``<first>.and_<n>_more``). Rows keep their provenance columns, so nothing is lost.
    """
    groups: list[list[tuple[str, pa.Table]]] = []
    rows = 0
    for name, table in parts:
        if not groups or rows + table.num_rows > max_rows:
            groups.append([])
            rows = 0
        groups[-1].append((name, table))
        rows += table.num_rows
    coalesced = []
    for group in groups:
        if len(group) == 1:
            coalesced.append(group[0])
            continue
        name = f"{group[0][0][:150]}.and_{len(group) - 1}_more"
        tables = [t for _, t in group]
        coalesced.append((name, pa.concat_tables(tables, promote_options="permissive")))
    return coalesced


def _part_name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", path.name)


def discover_sources(data_dir: Path) -> list[Source]:
    """The sources in a ``--data-dir`` folder, by file name; each kind needs one file at least."""
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: data folder not found")
    files = sorted(p for p in data_dir.iterdir() if p.is_file())
    sources: list[Source] = []
    for kind, patterns in DATA_DIR_PATTERNS.items():
        found = [
            Source(
                source_id=_part_name(path),
                source_type=source_type,
                source=str(path),
                dest_table=kind,
            )
            for path in files
            for pattern, source_type in patterns
            if fnmatch.fnmatch(path.name.lower(), pattern)
        ]
        if not found:
            wanted = " or ".join(p for p, _ in patterns)
            raise InputError(f"{data_dir}: no {kind} source: expected a file named {wanted}")
        sources += found
    return sources


@dataclass
class RunReport:
    """What a run did: per-source accounts, the graph's size, and where outputs went."""

    accounts: dict[str, SourceAccount]
    graph: dict[str, object]
    outputs: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)
    #: Files accepted with a repair during the import of this run (encoding guessed…).
    repairs: list[Repair] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The report as written to ``run_report.json`` (no timings: same input, same bytes)."""
        return {
            "sources": {k: a.to_dict() for k, a in sorted(self.accounts.items())},
            "graph": self.graph,
            "outputs": self.outputs,
            "repairs": [r.to_dict() for r in sorted(set(self.repairs))],
        }

    def summary(self) -> str:
        """A few lines for the console at the end of a run."""
        lines = ["source            read  published  merged  rejected"]
        for name, a in sorted(self.accounts.items()):
            reasons = ", ".join(f"{r}: {n}" for r, n in sorted(a.rejected_by_reason.items()))
            line = f"{name:<16}{a.read:>6}{a.published:>11}{a.merged:>8}{a.rejected:>10}"
            lines.append(line + (f"  ({reasons})" if reasons else ""))
        g = self.graph
        lines.append(
            f"graph: {g['drugs']} drugs, {g['publications']} publications, "
            f"{g['journals']} journals, {g['drug_publication_edges']} mentions, "
            f"{len(g['drugs_without_mentions'])} drugs without any mention"  # type: ignore[arg-type]
        )
        for repair in sorted(set(self.repairs)):
            lines.append(f"repaired: {repair.file}: {repair.repair}")
        if self.seconds:
            lines.append("time: " + ", ".join(f"{k} {v:.2f}s" for k, v in self.seconds.items()))
        lines.append(f"graph written to {self.outputs['graph']}")
        return redact("\n".join(lines))


def _graph_summary(result: MentionResult) -> dict[str, object]:
    graph = result.graph
    mentioned = set(graph.edges.get_column("source").unique().to_list())
    return {
        "drugs": graph.drugs.height,
        "publications": graph.publications.height,
        "journals": graph.journals.height,
        "drug_publication_edges": graph.mention_count,
        "drug_journal_edges": graph.edges.height - graph.mention_count,
        "drugs_without_mentions": sorted(
            n
            for i, n in zip(graph.drugs["id"], graph.drugs["name"], strict=True)
            if i not in mentioned
        ),
    }


def _read_lake_table(lake: Lake, table: str) -> pl.DataFrame:
    return pl.from_arrow(lake.read_table(table))  # type: ignore[return-value]


def rejected_lines(rejected: pl.DataFrame) -> list[str]:
    """One JSON object per rejected row: table, file, row, reason and the record as read.

    File names are redacted (a source given as a URL with a password does not show it).
    """
    files = rejected.get_column(SOURCE_FILE).drop_nulls().unique().to_list()
    redacted = [redact(f) for f in files]
    if redacted != files:
        rejected = rejected.with_columns(pl.col(SOURCE_FILE).replace(files, redacted))
    head = rejected.select(
        pl.struct(
            pl.col("table"),
            pl.col(SOURCE_FILE).alias("file"),
            pl.col(SOURCE_ROW).alias("row"),
            pl.col("reason"),
        ).struct.json_encode()
    ).to_series()
    return [
        f'{h[:-1]},"record":{r}}}' for h, r in zip(head, rejected.get_column("record"), strict=True)
    ]


def write_outputs(
    result: MentionResult,
    output_dir: Path,
    config: ProcessConfig,
    repairs: list[Repair] | None = None,
) -> RunReport:
    """Write graph, rejected rows and report into ``output_dir``, each atomically.

    The report and the rejected rows go through :func:`redact`: a source named by a URL with a
    password never shows it.
    """
    graph_path = inside(output_dir, config.graph_file, "graph_file")
    rejected_path = inside(output_dir, config.rejected_file, "rejected_file")
    report_path = inside(output_dir, config.report_file, "report_file")
    save_graph(result.graph, graph_path)
    with atomic_open(rejected_path) as handle:
        for line in rejected_lines(result.rejected):
            handle.write(line + "\n")
    report = RunReport(
        accounts=result.accounts,
        graph=_graph_summary(result),
        outputs={
            "graph": str(graph_path),
            "rejected_rows": str(rejected_path),
            "report": str(report_path),
        },
        repairs=list(repairs or []),
    )
    with atomic_open(report_path) as handle:
        text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, sort_keys=False)
        handle.write(redact(text) + "\n")
    return report


def process(
    lake: Lake,
    output_dir: Path,
    config: ProcessConfig | None = None,
    timer: StepTimer | None = None,
    repairs: list[Repair] | None = None,
) -> RunReport:
    """The process job: lake tables → graph.json, rejected rows and run report.

    ``repairs``: those made while importing the lake in the same run, for the report.
    """
    config = config or ProcessConfig()
    timer = timer or StepTimer()
    with timer.step("read lake"):
        drugs = _read_lake_table(lake, config.tables["drugs"])
        publications = {
            kind: _read_lake_table(lake, config.tables[kind])
            for kind in ("pubmed", "clinical_trials")
        }
    with timer.step("clean and match"):
        result = build_mentions(drugs, publications)
    with timer.step("write graph"):
        report = write_outputs(result, output_dir, config, repairs)
    report.seconds = timer.seconds
    return report


def run(
    data_dir: Path | None, lake_dir: str, output_dir: Path, progress: Progress = _quiet
) -> RunReport:
    """The main job: import every source found in ``data_dir`` into the lake, then process."""
    timer = StepTimer(progress=progress)
    sources = discover_sources(data_dir or SAMPLE_DATA_DIR)
    lake = Lake(lake_dir)
    with timer.step("import"), collect_repairs() as repairs:
        import_tables(sources, lake)
    return process(lake, output_dir, timer=timer, repairs=repairs)
