"""A run's outputs: graph.json, the rejected rows and the run report, published as one set.

Every engine writes them through an :class:`OutputSet`. The files are staged in a fresh hidden
folder of the output folder, ``.runs/<run>/`` (each written atomically and fsynced), then
published together by one rename: ``.runs/current`` is a symbolic link to the folder of the
published run, and each documented path is a link through it
(``graph.json -> .runs/current/graph.json``). The documented paths therefore name the files
of one complete run at every moment: the previous run's until the new set is whole and
switched, whatever stops the writer (a kill, a full disk, an I/O error). A failed run removes
what it staged; a killed run's folder, like the folders of superseded runs, is removed by the
next run. Files of an older version (plain files at the documented paths) are taken over
without a moment where they would not form one set: hard-linked into a run folder made
current, then replaced by links to the same bytes.

A reader that opens the three files one after the other while another run publishes may get
them from two runs; to read one set, resolve :func:`current_folder` once and open the files
inside it. The report and the rejected rows go through :func:`~datapipeline.security.redact`:
a source named by a URL with a password never shows it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import polars as pl

from datapipeline.atomic import atomic_open, stale_temps
from datapipeline.config import ProcessConfig
from datapipeline.errors import OutputError
from datapipeline.lake import Lake
from datapipeline.mentions.parquet_graph import save_graph_tables, table_paths
from datapipeline.mentions.recipe import MentionResult, sorted_rejected_rows
from datapipeline.repairs import Repair
from datapipeline.run.imports import RejectedFile, rejected_file_rows
from datapipeline.run.report import GraphSummary, RunReport
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW
from datapipeline.security import check_file_name, inside, redact, redact_document

log = logging.getLogger(__name__)

#: The hidden folder of the output folder holding the runs' sets, one folder per run.
RUNS = ".runs"
#: The link in :data:`RUNS` to the published run's folder.
CURRENT = "current"


def published_link(name: str) -> str:
    """What the documented path of output ``name`` links to (relative to its folder)."""
    return f"{RUNS}/{CURRENT}/{name}"


def _is_published_link(path: Path) -> bool:
    return path.is_symlink() and os.readlink(path) == published_link(path.name)


def _public_path(output_dir: Path, name: str, what: str) -> Path:
    path = output_dir / name
    return path if _is_published_link(path) else inside(output_dir, name, what)


def current_folder(output_dir: Path) -> Path | None:
    """The folder of the published set of ``output_dir`` (its three files, of one run), or
    None before the first run. Resolve it once, then open the files inside it."""
    link = output_dir / RUNS / CURRENT
    return link.resolve() if link.is_symlink() else None


@dataclass(frozen=True)
class OutputPaths:
    """Where a run's three outputs go (checked to stay inside the output folder)."""

    graph: Path
    rejected: Path
    report: Path

    @classmethod
    def named(cls, config: ProcessConfig) -> OutputPaths:
        """The file names of ``config``'s outputs (plain names, checked)."""
        return cls(
            graph=Path(check_file_name(config.graph_file, "graph_file")),
            rejected=Path(check_file_name(config.rejected_file, "rejected_file")),
            report=Path(check_file_name(config.report_file, "report_file")),
        )

    @classmethod
    def of(cls, output_dir: Path, config: ProcessConfig) -> OutputPaths:
        """The paths of ``config``'s output files in ``output_dir``, checked to stay in it (a
        link this module made is the published one; any other link leading out is refused)."""
        names = zip(
            ("graph_file", "rejected_file", "report_file"), cls.named(config).all(), strict=True
        )
        return cls(*(_public_path(output_dir, name.name, what) for what, name in names))

    def all(self) -> tuple[Path, Path, Path]:
        """The three paths."""
        return self.graph, self.rejected, self.report

    def published(self) -> tuple[Path, ...]:
        """Every file of the set: the three, and the graph's tables beside graph.json."""
        return (*self.all(), *table_paths(self.graph).values())

    def moved_to(self, folder: Path) -> OutputPaths:
        """The same file names in ``folder``."""
        return OutputPaths(*(folder / path.name for path in self.all()))

    def to_dict(self) -> dict[str, str]:
        """The run report's ``outputs``."""
        return {
            "graph": str(self.graph),
            "rejected_rows": str(self.rejected),
            "report": str(self.report),
        }


def run_name() -> str:
    """A new run's folder name: when (UTC) and a random token."""
    return f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(4)}"


def _fsync_dir(folder: Path) -> None:
    """Make the entries of ``folder`` (files renamed or linked into it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _switch_link(link: Path, target: str) -> None:
    """Make ``link`` a symbolic link to ``target`` in one rename (readers see the old link or
    the new one, never none)."""
    temp = link.with_name(f".{link.name}.{secrets.token_hex(4)}.tmp")
    os.symlink(target, temp)
    try:
        os.replace(temp, link)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _reason(exc: OSError) -> str:
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


class OutputSet:
    """One run's outputs, staged apart and published together.

    A context: write the files to :attr:`staged` (the report names :meth:`locations`); when
    the block ends normally they are published at once, otherwise what was staged is removed
    and the previous set stays. An :class:`OSError` while staging or publishing (full disk,
    I/O error) becomes one :class:`~datapipeline.errors.OutputError` naming the file.

    This class publishes into a local folder; :class:`datapipeline.beam.outputs.RemoteOutputSet`
    into a remote one (``gs://…``).
    """

    def __init__(self, output_dir: Path, config: ProcessConfig) -> None:
        self.folder = output_dir
        #: where the outputs go, as errors name it
        self.location = str(output_dir)
        self.public = OutputPaths.of(output_dir, config)
        self._staging: Path | None = None

    @property
    def staged(self) -> OutputPaths:
        """Where this run writes its files (inside the block)."""
        if self._staging is None:
            raise RuntimeError("an OutputSet's files are written inside its with block")
        return self.public.moved_to(self._staging)

    def locations(self) -> dict[str, str]:
        """The published paths, as the run report's ``outputs`` names them."""
        return self.public.to_dict()

    def __enter__(self) -> OutputSet:
        try:
            self._staging = self._stage()
        except OSError as exc:
            raise self._failure(exc) from exc
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        staging, self._staging = self._staging, None
        assert staging is not None
        if exc is None:
            try:
                self._publish(staging)
            except OSError as error:
                self._discard(staging)
                raise self._failure(error) from error
            return
        self._discard(staging)
        if isinstance(exc, OSError) and self._wrote(exc, staging):
            raise self._failure(exc) from exc

    @staticmethod
    def _wrote(exc: OSError, staging: Path) -> bool:
        """Whether ``exc`` comes from writing this set's files (not from other work of the
        block, such as the lake's)."""
        if not isinstance(exc.filename, (str, bytes, os.PathLike)):
            return False
        path = os.path.abspath(os.fsdecode(exc.filename))
        return path.startswith(os.path.abspath(staging) + os.sep)

    def _failure(self, exc: OSError) -> OutputError:
        """``exc`` as one line naming the published path of the file it hit."""
        hit = os.path.basename(os.fsdecode(exc.filename)) if exc.filename else ""
        where = self.location
        for path in self.public.published():
            name = path.name
            if hit and (hit == name or hit.startswith(f".{name}.")):  # the file or its temp
                where = f"{self.location.rstrip('/')}/{name}"
        return OutputError(
            f"{where}: cannot write: {_reason(exc)} (the outputs of the previous run are kept)"
        )

    # -- a local folder ------------------------------------------------------------------

    def _stage(self) -> Path:
        """A new, empty run folder; leftovers of killed runs removed first."""
        runs = self.folder / RUNS
        runs.mkdir(parents=True, exist_ok=True)
        current = runs / CURRENT
        if os.path.lexists(current) and not current.is_symlink():
            # a copy of the folder that followed the links (cp -L): its documented files are
            # plain copies, taken over when this run publishes
            _remove(current)
        self._remove_runs(runs, keep=os.readlink(current) if current.is_symlink() else None)
        for path in self.public.published():
            if path.is_dir():
                raise OutputError(f"{path}: is a folder, expected the file {path.name}")
            for stale in stale_temps(path):
                stale.unlink(missing_ok=True)
        staging = runs / run_name()
        staging.mkdir()
        return staging

    def _publish(self, staging: Path) -> None:
        """Make ``staging`` the published set: one rename of ``.runs/current``."""
        runs = staging.parent
        _fsync_dir(staging)
        self._take_over_plain_files(runs)
        for path in self.public.published():
            if not _is_published_link(path):
                # absent until the switch below: the link leads nowhere before it
                _switch_link(path, published_link(path.name))
        _fsync_dir(self.folder)
        _switch_link(runs / CURRENT, staging.name)
        try:
            _fsync_dir(runs)
            self._remove_runs(runs, keep=staging.name)
            self._remove_dead_links()
        except OSError as exc:  # published already: what is left is removed by the next run
            log.warning("%s: could not remove the previous outputs: %s", self.folder, _reason(exc))

    def _take_over_plain_files(self, runs: Path) -> None:
        """Turn outputs that are plain files (written by an older version) into published
        links without changing what a reader sees: their bytes are hard-linked into a run
        folder made current first."""
        plain = [
            p for p in self.public.published() if os.path.lexists(p) and not _is_published_link(p)
        ]
        if not plain:
            return
        adopted = runs / run_name()
        adopted.mkdir()
        for path in self.public.published():
            if path.is_file():
                try:
                    os.link(path, adopted / path.name)
                except OSError:  # no hard links here (or across devices): copied
                    shutil.copy2(path, adopted / path.name)
        _fsync_dir(adopted)
        _switch_link(runs / CURRENT, adopted.name)
        for path in plain:
            _switch_link(path, published_link(path.name))

    def _remove_runs(self, runs: Path, keep: str | None) -> None:
        """Remove every run folder (and temporary link) of ``runs`` but ``keep``."""
        for entry in runs.iterdir():
            if entry.name not in (CURRENT, keep):
                _remove(entry)

    def _remove_dead_links(self) -> None:
        """Remove published links to outputs the current set no longer has (a renamed
        output file)."""
        prefix = published_link("")
        for entry in self.folder.iterdir():
            if entry.is_symlink() and os.readlink(entry).startswith(prefix) and not entry.exists():
                entry.unlink()

    def _discard(self, staging: Path) -> None:
        shutil.rmtree(staging, ignore_errors=True)


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
    outputs: OutputSet,
    repairs: list[Repair] | None = None,
    rejected_files: list[RejectedFile] | None = None,
    lake: Lake | None = None,
) -> RunReport:
    """Write graph, rejected rows and report into ``outputs`` (published when its block ends).
    ``rejected_files``: input files refused whole, listed in the report and the rejected rows.
    The graph's Parquet tables go beside graph.json and, given a ``lake``, into it.

    The report and the rejected rows go through :func:`redact`: a source named by a URL with a
    password never shows it.
    """
    staged = outputs.staged
    # graph.json (the big one, encoded on threads, then fsynced) is written meanwhile
    with ThreadPoolExecutor(1, thread_name_prefix="graph-file") as pool:
        saving = pool.submit(save_graph_tables, result.graph, staged.graph, lake)
        write_rejected(with_rejected_files(result.rejected, rejected_files or []), staged.rejected)
        saving.result()
    report = RunReport(
        accounts=result.accounts,
        graph=GraphSummary.of_tables(result.graph).to_dict(result.graph.drugs),
        outputs=outputs.locations(),
        repairs=list(repairs if repairs is not None else result.repairs),
        rejected_files=list(rejected_files or []),
    )
    write_report(report, staged.report)
    return report


def with_rejected_files(rejected: pl.DataFrame, files: list[RejectedFile]) -> pl.DataFrame:
    """The rejected rows with a line for each file refused whole, in their order."""
    if not files:
        return rejected
    return sorted_rejected_rows([rejected, rejected_file_rows(files)])
