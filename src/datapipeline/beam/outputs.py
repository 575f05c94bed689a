"""The Beam engine's last step: graph.json put together from its ranges, the rejected rows and
the run report, written through the run layer as every engine writes them."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from datapipeline.atomic import atomic_open
from datapipeline.beam.coders import FrameCoder
from datapipeline.beam.transforms import WrittenRange, rows_path
from datapipeline.config import ProcessConfig
from datapipeline.errors import OutputError
from datapipeline.kernels.node_link import HEAD, MIDDLE, TAIL
from datapipeline.mentions import recipe
from datapipeline.mentions.nodes import drug_node_rows
from datapipeline.mentions.parquet_graph import ParquetGraphWriter
from datapipeline.mentions.recipe import PreparedDrugs, SourceAccount
from datapipeline.repairs import Repair
from datapipeline.run.outputs import (
    CURRENT,
    RUNS,
    OutputPaths,
    OutputSet,
    run_name,
    write_rejected,
    write_report,
)
from datapipeline.run.report import GraphSummary, RunReport
from datapipeline.schema import CLINICAL_TRIALS, DRUGS, PUBMED

log = logging.getLogger(__name__)

#: Bytes copied at once from a range's file into graph.json.
COPY_BLOCK = 1 << 20
#: What ends every line of a range but the last of graph.json's arrays.
_SEPARATOR = b",\n"


def is_remote(location: str) -> bool:
    """Whether ``location`` is a URL (gs://…) rather than a local path."""
    return "://" in location and not location.startswith("file://")


def _blocks(path: str) -> Iterator[bytes]:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path, compression_type="uncompressed") as handle:
        while block := handle.read(COPY_BLOCK):
            yield block


def joined_ranges(ranges: Iterable[WrittenRange]) -> Iterator[bytes]:
    """graph.json from its ranges, as a stream of blocks: each section's ranges in order, the
    separator after the last line of each section dropped."""
    ordered = sorted(ranges, key=lambda r: (r.section != "nodes", r.index))
    yield HEAD
    for section, closing in (("nodes", MIDDLE), ("edges", TAIL)):
        # the last bytes seen are held back: the separator of the section's last line is not
        # written, the others are when more bytes follow
        held = b""
        for written in (r for r in ordered if r.section == section):
            for block in _blocks(written.path):
                block = held + block
                held = block[-len(_SEPARATOR) :]
                yield block[: -len(_SEPARATOR)]
        if held not in (b"", _SEPARATOR):
            raise ValueError(f"a range of graph.json's {section} does not end a line: {held!r}")
        yield closing


def _add_rows(tables: ParquetGraphWriter, ranges: Iterable[WrittenRange]) -> None:
    """The rows of ``ranges`` (kept beside each range) added to the graph's tables, in order."""
    for written in sorted(ranges, key=lambda r: (r.section != "nodes", r.index)):
        rows = FrameCoder().decode(b"".join(_blocks(rows_path(written.path))))
        if written.section == "nodes":
            tables.add_nodes(rows)
        else:
            tables.add_edges(rows)


def _remove(paths: Iterable[str]) -> None:
    from apache_beam.io.filesystems import FileSystems

    paths = list(paths)
    if paths:
        FileSystems.delete(paths)


class RemoteOutputSet(OutputSet):
    """The outputs of a run into a remote folder (``gs://…``), through Beam's file systems.

    An object store has no link to switch: the files are staged locally, uploaded into
    ``<folder>/.runs/<run>/``, and that run is made current by one object write,
    ``<folder>/.runs/current`` (its name): the commit point. Then each file is copied to its
    documented name (``<folder>/graph.json``…) and the other runs' objects are deleted.
    Each object is whole when it appears; the three documented names show one run except
    while they are copied (or when a run is killed then): a reader that needs one set reads
    ``.runs/current`` first (:func:`read_report` does).
    """

    def __init__(self, url: str, config: ProcessConfig) -> None:
        # no local folder: the files are named, staged in a temporary folder
        self.location = self.url = url.rstrip("/")
        self.public = OutputPaths.named(config)
        self._staging = None

    def locations(self) -> dict[str, str]:
        return {k: f"{self.url}/{v}" for k, v in self.public.to_dict().items()}

    def _stage(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="datapipeline-outputs-"))

    def _publish(self, staging: Path) -> None:
        from apache_beam.io.filesystems import FileSystems

        runs = f"{self.url}/{RUNS}"
        run = run_name()
        files = [path.name for path in self.public.published()]
        for name in files:
            _upload(staging / name, f"{runs}/{run}/{name}")
        with FileSystems.create(f"{runs}/{CURRENT}") as pointer:
            pointer.write(f"{run}\n".encode())
        self._discard(staging)
        documented = [f"{self.url}/{name}" for name in files]
        try:
            FileSystems.copy([f"{runs}/{run}/{name}" for name in files], documented)
        except OSError as exc:
            raise OutputError(
                f"{self.url}: the outputs are published in {runs}/{run} but could not be "
                f"copied to {', '.join(files)}: {exc}"
            ) from exc
        try:
            (listed,) = FileSystems.match([f"{runs}/**"])
            superseded = [
                m.path
                for m in listed.metadata_list
                if not m.path.startswith(f"{runs}/{run}/") and m.path != f"{runs}/{CURRENT}"
            ]
            if superseded:
                FileSystems.delete(superseded)
        except OSError as exc:  # published already: the next run removes them
            log.warning("%s: could not remove the previous outputs: %s", runs, exc)


def _upload(local: Path, remote: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    with open(local, "rb") as source, FileSystems.create(remote) as target:
        while block := source.read(COPY_BLOCK):
            target.write(block)


def current_run(output_dir: str) -> str:
    """The folder of the published set of a remote output folder (the files of one run)."""
    from apache_beam.io.filesystems import FileSystems

    runs = f"{output_dir.rstrip('/')}/{RUNS}"
    with FileSystems.open(f"{runs}/{CURRENT}", compression_type="uncompressed") as pointer:
        return f"{runs}/{pointer.read().decode('utf-8').strip()}"


def finish(
    drugs: PreparedDrugs,
    ranges: list[WrittenRange],
    accounts: dict[str, SourceAccount],
    rejected: pl.DataFrame | None,
    repairs: list[tuple[str, str]],
    output_dir: str,
    config: ProcessConfig,
) -> None:
    """Write graph.json (from ``ranges``, then deleted), the rejected rows and the run report
    into ``output_dir``, published as one set (:class:`~datapipeline.run.outputs.OutputSet`;
    a remote folder, gs://…: :class:`RemoteOutputSet`)."""
    outputs = (
        RemoteOutputSet(output_dir, config)
        if is_remote(output_dir)
        else OutputSet(Path(output_dir.removeprefix("file://")), config)
    )
    with outputs:
        graph = outputs.staged.graph
        with (
            ParquetGraphWriter(graph) as tables,
            atomic_open(graph, binary=True) as handle,
            ThreadPoolExecutor(1, thread_name_prefix="range-tables") as pool,
        ):
            # the tables are fed the ranges' rows on a thread while graph.json is put together
            adding = pool.submit(_add_rows, tables, ranges)
            for block in joined_ranges(ranges):
                handle.write(block)
                tables.observe(block)
            adding.result()
            tables.commit()
        _remove([path for r in ranges for path in (r.path, rows_path(r.path))])
        rejected_parts = [drugs.rejected] if rejected is None else [drugs.rejected, rejected]
        write_rejected(recipe.sorted_rejected_rows(rejected_parts), outputs.staged.rejected)
        publications = {k.name: SourceAccount() for k in (PUBMED, CLINICAL_TRIALS)}
        summary = GraphSummary.total(r.summary for r in ranges)
        report = RunReport(
            accounts=recipe.add_accounts({DRUGS.name: drugs.account}, publications, accounts),
            graph=summary.to_dict(drug_node_rows(drugs.nodes)),
            outputs=outputs.locations(),
            repairs=sorted({Repair(file, repair) for file, repair in repairs}),
        )
        write_report(report, outputs.staged.report)


def read_report(output_dir: str, config: ProcessConfig) -> RunReport:
    """The run report the pipeline wrote, as a :class:`RunReport` (on a remote folder, the
    published run's: the documented copy may be mid-update)."""
    if is_remote(output_dir):
        from apache_beam.io.filesystems import FileSystems

        location = f"{current_run(output_dir)}/{config.report_file}"
        with FileSystems.open(location, compression_type="uncompressed") as handle:
            data = json.loads(handle.read().decode("utf-8"))
    else:
        location = f"{output_dir.rstrip('/')}/{config.report_file}"
        data = json.loads(Path(location.removeprefix("file://")).read_text(encoding="utf-8"))
    accounts = {k: SourceAccount(**v) for k, v in data["sources"].items()}
    repairs = [Repair(r["file"], r["repair"]) for r in data.get("repairs", [])]
    return RunReport(
        accounts=accounts, graph=data["graph"], outputs=data["outputs"], repairs=repairs
    )


def parts_folder(output_dir: str) -> str:
    """A new folder for the ranges of graph.json, beside the outputs (the same file system)."""
    if is_remote(output_dir):
        return f"{output_dir.rstrip('/')}/.graph-parts-{os.urandom(6).hex()}"
    local = Path(output_dir.removeprefix("file://"))
    local.mkdir(parents=True, exist_ok=True)
    return tempfile.mkdtemp(prefix=".graph-parts-", dir=local)


def remove_parts_folder(parts_dir: str) -> None:
    """Remove the folder of graph.json's ranges (whatever a failed run left in it)."""
    from apache_beam.io.filesystems import FileSystems

    if FileSystems.exists(parts_dir):
        FileSystems.delete([parts_dir])
