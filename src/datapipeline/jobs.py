"""The import job (sources → lake), the process job (lake → graph) and the main job (both).

These are the functions the CLI, the seed's scripts, the Airflow tasks and the tests call.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl
import pyarrow as pa

from datapipeline import incremental
from datapipeline.atomic import atomic_open
from datapipeline.config import ProcessConfig, Source
from datapipeline.errors import ConfigError, InputError
from datapipeline.extract import get_reader
from datapipeline.extract.canonical import (
    batch_to_canonical,
    canonical_schema,
    resolve_canonical,
    to_canonical,
)
from datapipeline.extract.database import DATABASE_TYPES
from datapipeline.extract.incremental import IncrementalRun
from datapipeline.lake import Lake
from datapipeline.mentions.cleaning import clean_publications
from datapipeline.mentions.graph import Matcher
from datapipeline.mentions.matching import find_mentions
from datapipeline.mentions.parquet_graph import save_graph_tables
from datapipeline.mentions.transform import MentionResult, SourceAccount, build_mentions
from datapipeline.repairs import Repair
from datapipeline.repairs import collect as collect_repairs
from datapipeline.schema import CLINICAL_TRIALS, KINDS, PUBMED, SOURCE_FILE, SOURCE_ROW
from datapipeline.security import inside, redact

log = logging.getLogger(__name__)

#: ``--data-dir`` layout: file-name patterns per source kind, and the reader for each.
DATA_DIR_PATTERNS: dict[str, tuple[tuple[str, str], ...]] = {
    "drugs": (("drugs*.csv", "csv"),),
    "pubmed": (
        ("pubmed*.csv", "csv"),
        ("pubmed*.json", "json"),
        ("pubmed*.xml", "pubmed_xml"),
        ("pubmed*.xml.gz", "pubmed_xml"),
    ),
    "clinical_trials": (
        ("clinical_trials*.csv", "csv"),
        ("nct*.json", "ctgov_json"),
        ("ctgov*.json", "ctgov_json"),
    ),
}

SAMPLE_DATA_DIR = Path(__file__).parent / "sample_data"

#: A progress sink: ``progress(step, done, total)`` (see ``datapipeline.progress``).
Progress = Callable[..., None]


def _quiet(*_: object, **__: object) -> None:
    pass


@dataclass
class StepTimer:
    """Wall-clock seconds per named step, in the order the steps ran."""

    seconds: dict[str, float] = field(default_factory=dict)
    progress: Progress = _quiet

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as step ``name`` and announce it."""
        self.progress(name)
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def _reader_options(source: Source, **extra: object) -> dict[str, object]:
    """The options a reader gets: the source's own, its id (database secrets are named after
    it) and ``extra``."""
    return {**source.options, "source_id": source.source_id, **extra}


def read_source(source: Source) -> pa.Table:
    """Read one source with its registered reader into the canonical columns of its kind.

    The whole source is held in memory: for large sources :func:`import_source` streams.
    """
    kind = KINDS[source.source_kind]
    reader = get_reader(source.source_type)
    batches = list(reader(source.source, **_reader_options(source)))
    if not batches:
        return canonical_schema(kind).empty_table()
    return to_canonical(pa.Table.from_batches(batches), kind, source.source)


class _CanonicalStream:
    """A reader's batches renamed to the canonical columns, one batch at a time; counts rows."""

    def __init__(self, batches: Iterator[pa.RecordBatch], source: Source) -> None:
        self.batches = batches
        self.kind = KINDS[source.source_kind]
        self.source = source.source
        self.rows = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        found: dict[str, str] | None = None
        for batch in self.batches:
            if found is None:
                found = resolve_canonical(batch.schema.names, self.kind, self.source)
            canonical = batch_to_canonical(batch, self.kind, self.source, found)
            self.rows += canonical.num_rows
            yield canonical


def import_source(source: Source, lake: Lake, full_reload: bool = False) -> int:
    """Import one source into its lake table, streaming batches to Parquet; returns rows read.

    A source without a watermark replaces its own part. A database source with
    ``options.watermark`` is incremental: a rerun reads only rows past the watermark stored
    in the lake, into a part of its own (earlier rows are kept); ``full_reload`` forgets the
    state and reads everything again, replacing every part the source wrote before.
    """
    kind = KINDS[source.source_kind]
    reader = get_reader(source.source_type)
    column = source.options.get("watermark")
    if not column:
        stream = _CanonicalStream(reader(source.source, **_reader_options(source)), source)
        lake.write_part_batches(source.dest_table, source.source_id, stream, canonical_schema(kind))
        _log_import(stream.rows, source, lake)
        return stream.rows
    if source.source_type not in DATABASE_TYPES:
        raise ConfigError(
            f"source {source.source_id!r}: options.watermark applies to database sources "
            f"({', '.join(DATABASE_TYPES)}), not {source.source_type!r}"
        )
    run = IncrementalRun.begin(lake, source.source_id, source.dest_table, str(column), full_reload)
    options = _reader_options(source, watermark_tracker=run.tracker)
    stream = _CanonicalStream(reader(source.source, **options), source)
    if run.full:
        lake.write_part_batches(source.dest_table, run.part, stream, canonical_schema(kind))
        run.commit(wrote_part=True)
    else:
        batches = iter(stream)
        first = next((b for b in batches if b.num_rows), None)
        if first is not None:  # new rows: a part of their own; none: nothing to write
            rest = itertools.chain([first], batches)
            lake.write_part_batches(source.dest_table, run.part, rest, canonical_schema(kind))
        run.commit(wrote_part=first is not None)
    _log_import(stream.rows, source, lake)
    return stream.rows


def _log_import(rows: int, source: Source, lake: Lake) -> None:
    log.info(
        "imported %s rows from %s into %s/%s", rows, source.source_id, lake.url, source.dest_table
    )


def _part_name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", path.name)


def discover_sources(data_dir: Path) -> list[Source]:
    """The sources in a ``--data-dir`` folder, by file name; each kind needs one file at least."""
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: data folder not found")
    return sources_from_files(
        [str(p) for p in sorted(data_dir.iterdir()) if p.is_file()], str(data_dir)
    )


def sources_from_files(paths: list[str], data_dir: str) -> list[Source]:
    """The sources among ``paths`` (the files of ``data_dir``, local paths or URLs), by name."""
    sources: list[Source] = []
    for kind, patterns in DATA_DIR_PATTERNS.items():
        found = [
            Source(
                source_id=_part_name(Path(path)),
                source_type=source_type,
                source=path,
                dest_table=kind,
            )
            for path in sorted(paths)
            for pattern, source_type in patterns
            if fnmatch.fnmatch(Path(path).name.lower(), pattern)
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
    #: what an incremental run imported and matched (not in ``to_dict``: a rerun that reuses
    #: earlier work writes the same report as a full rebuild)
    changes: incremental.Changes | None = None
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
        """The readable end-of-run summary: accounts, main rejection reasons, graph, times."""
        lines = [f"{'source':<16}{'read':>8}{'published':>11}{'merged':>8}{'rejected':>10}"]
        for name, a in sorted(self.accounts.items()):
            reasons = sorted(a.rejected_by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
            shown = ", ".join(f"{r}: {n}" for r, n in reasons[:3])
            if len(reasons) > 3:
                shown += f", {len(reasons) - 3} more"
            line = f"{name:<16}{a.read:>8}{a.published:>11}{a.merged:>8}{a.rejected:>10}"
            lines.append(line + (f"  ({shown})" if shown else ""))
        g = self.graph
        unmentioned = list(g["drugs_without_mentions"])  # type: ignore[call-overload]
        lines.append(
            f"graph: {g['drugs']} drugs, {g['publications']} publications, "
            f"{g['journals']} journals, {g['drug_publication_edges']} mentions"
        )
        if unmentioned:
            names = ", ".join(unmentioned[:10]) + (" …" if len(unmentioned) > 10 else "")
            lines.append(f"drugs without any mention: {len(unmentioned)} ({names})")
        if self.changes is not None:
            lines.append(self.changes.summary())
        for repair in sorted(set(self.repairs)):
            lines.append(f"repaired: {repair.file}: {repair.repair}")
        if self.seconds:
            total = sum(self.seconds.values())
            steps = ", ".join(f"{k} {v:.2f}s" for k, v in self.seconds.items())
            lines.append(f"time: {total:.2f}s ({steps})")
        lines.append(f"graph written to {self.outputs['graph']}")
        if any(a.rejected for a in self.accounts.values()):
            lines.append(f"rejected rows (with reasons) in {self.outputs['rejected_rows']}")
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


class TableSource(Protocol):
    """Where the process job reads its tables: a :class:`Lake` or a warehouse."""

    def read_table(self, table: str) -> pa.Table: ...


def _read_lake_table(lake: TableSource, table: str) -> pl.DataFrame:
    if isinstance(lake, (Lake, incremental.ImportedParts)):
        return lake.read_frame(table)
    return pl.from_arrow(lake.read_table(table))  # type: ignore[return-value]


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


def write_rejected(rejected: pl.DataFrame, path: Path) -> None:
    """The rejected rows (with their reasons), one JSON line each, atomically."""
    with atomic_open(path) as handle:
        for line in rejected_lines(rejected):
            handle.write(line + "\n")


def write_report(report: RunReport, path: Path) -> None:
    """The run report as JSON, atomically, secrets redacted."""
    with atomic_open(path) as handle:
        text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False, sort_keys=False)
        handle.write(redact(text) + "\n")


def write_outputs(
    result: MentionResult,
    output_dir: Path,
    config: ProcessConfig,
    repairs: list[Repair] | None = None,
    lake: Lake | None = None,
) -> RunReport:
    """Write graph, rejected rows and report into ``output_dir``, each atomically.

    The graph's Parquet tables go beside graph.json and, given a ``lake``, into it.

    The report and the rejected rows go through :func:`redact`: a source named by a URL with a
    password never shows it.
    """
    paths = OutputPaths.of(output_dir, config)
    # graph.json (the big one, encoded on threads, then fsynced) is written meanwhile
    with ThreadPoolExecutor(1, thread_name_prefix="graph-file") as pool:
        saving = pool.submit(save_graph_tables, result.graph, paths.graph, lake)
        write_rejected(result.rejected, paths.rejected)
        saving.result()
    report = RunReport(
        accounts=result.accounts,
        graph=_graph_summary(result),
        outputs=paths.to_dict(),
        repairs=list(repairs if repairs is not None else result.repairs),
    )
    write_report(report, paths.report)
    return report


def process(
    lake: TableSource,
    output_dir: Path,
    config: ProcessConfig | None = None,
    timer: StepTimer | None = None,
    matcher: Matcher = find_mentions,
    repairs: list[Repair] | None = None,
) -> RunReport:
    """The process job: lake tables → graph.json, rejected rows and run report.

    ``lake`` may also be a warehouse (anything with ``read_table``): the tables go through
    the same ``build_mentions`` call, so the graph is the same either way. ``repairs``: those
    made while importing the lake in the same run, for the report.
    """
    config = config or ProcessConfig()
    timer = timer or StepTimer()
    with timer.step("read warehouse" if hasattr(lake, "query") else "read lake"):
        drugs = _read_lake_table(lake, config.tables["drugs"])
        publications = {
            kind: _read_lake_table(lake, config.tables[kind])
            for kind in ("pubmed", "clinical_trials")
        }
        cleaned = {}
        if isinstance(lake, incremental.ImportedParts):
            # parts cleaned as they were read (see run): not cleaned again
            for kind in ("pubmed", "clinical_trials"):
                done = lake.cleaned_table(config.tables[kind])
                if done is not None:
                    cleaned[kind] = done
    with timer.step("clean and match"):
        result = build_mentions(drugs, publications, matcher, cleaned)
    with timer.step("write graph"):
        lake_of_run = lake if isinstance(lake, Lake) else getattr(lake, "lake", None)
        report = write_outputs(result, output_dir, config, repairs, lake=lake_of_run)
    report.seconds = timer.seconds
    return report


ENGINES = ("auto", "local", "stream", "beam")
#: ``auto`` streams when the local engine's memory, about this many times the size of the
#: input files (measured: 1.3 GB for 176 MB of CSV and JSON), would pass half of the memory.
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


def _reading_and_cleaning(imported: incremental.ImportedParts) -> Callable[[Source], pa.Table]:
    """:func:`read_source` that also cleans the publication rows it read, on the reading thread:
    cleaning (row by row) overlaps the reading of the other files."""

    def read(source: Source) -> pa.Table:
        table = read_source(source)
        if source.source_kind in (PUBMED.name, CLINICAL_TRIALS.name):
            imported.add_cleaned(
                source, clean_publications(pl.DataFrame(table), source.source_kind)
            )
        return table

    return read


def run(
    data_dir: Path | None,
    lake_dir: str,
    output_dir: Path,
    progress: Progress = _quiet,
    *,
    engine: str = "auto",
    full_refresh: bool = False,
    beam_args: Sequence[str] = (),
) -> RunReport:
    """The main job: import every source found in ``data_dir`` into the lake, then process.

    Runs are incremental (see :mod:`datapipeline.incremental`): only input files that changed
    are imported, only titles not matched yet are matched; ``full_refresh`` rebuilds all.
    ``engine="beam"`` runs the job as an Apache Beam pipeline instead (``beam_args`` are its
    pipeline options; it reads the input files directly and keeps no lake or state);
    ``engine="stream"`` processes the lake part by part, in bounded memory
    (:mod:`datapipeline.streaming`); ``"auto"`` picks local or stream (:func:`choose_engine`).
    """
    if engine == "auto":
        engine = choose_engine(data_dir)
        log.info("engine: %s", engine)
    if engine == "beam":
        from datapipeline.beam import run_beam

        progress("beam pipeline …")
        return run_beam(data_dir, output_dir, beam_args)
    if engine == "stream":
        from datapipeline.streaming import run_stream

        return run_stream(data_dir, lake_dir, output_dir, progress, full_refresh=full_refresh)
    if engine != "local":
        raise ConfigError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")
    timer = StepTimer(progress=progress)
    sources = discover_sources(data_dir or SAMPLE_DATA_DIR)
    lake = Lake(lake_dir)
    changes = incremental.Changes(full_refresh=full_refresh)
    with timer.step("import"), collect_repairs() as repairs:
        # a full refresh starts from an empty state: every file is read, every title matched
        state = incremental.State(lake) if full_refresh else incremental.State.load(lake)
        imported = incremental.ImportedParts(lake, state)
        incremental.import_changed(
            sources, lake, state, changes, _reading_and_cleaning(imported), imported, progress
        )
    # Parts just read are processed from memory while their Parquet files are written.
    matcher = incremental.CachedMatcher(lake, state, changes)
    try:
        report = process(imported, output_dir, timer=timer, matcher=matcher, repairs=repairs)
    finally:
        imported.wait()
        matcher.wait()
    state.save()
    report.changes = changes
    return report
