"""The Beam engine's last step: graph.json put together from its ranges, the rejected rows and
the run report, written through the run layer as every engine writes them."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl

from datapipeline.atomic import atomic_open
from datapipeline.beam.transforms import WrittenRange
from datapipeline.config import ProcessConfig
from datapipeline.kernels.node_link import HEAD, MIDDLE, TAIL
from datapipeline.mentions import recipe
from datapipeline.mentions.nodes import drug_node_rows
from datapipeline.mentions.recipe import PreparedDrugs, SourceAccount
from datapipeline.repairs import Repair
from datapipeline.run.outputs import OutputPaths, write_rejected, write_report
from datapipeline.run.report import GraphSummary, RunReport
from datapipeline.schema import CLINICAL_TRIALS, DRUGS, PUBMED

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


def _remove(paths: Iterable[str]) -> None:
    from apache_beam.io.filesystems import FileSystems

    paths = list(paths)
    if paths:
        FileSystems.delete(paths)


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
    into ``output_dir``; a remote one (gs://…) gets them written locally first, then copied."""
    local_dir = None if is_remote(output_dir) else Path(output_dir.removeprefix("file://"))
    with tempfile.TemporaryDirectory() as staging:
        paths = OutputPaths.of(local_dir or Path(staging), config)
        with atomic_open(paths.graph, binary=True) as handle:
            for block in joined_ranges(ranges):
                handle.write(block)
        _remove(r.path for r in ranges)
        rejected_parts = [drugs.rejected] if rejected is None else [drugs.rejected, rejected]
        write_rejected(recipe.sorted_rejected_rows(rejected_parts), paths.rejected)
        publications = {k.name: SourceAccount() for k in (PUBMED, CLINICAL_TRIALS)}
        summary = GraphSummary.total(r.summary for r in ranges)
        report = RunReport(
            accounts=recipe.add_accounts({DRUGS.name: drugs.account}, publications, accounts),
            graph=summary.to_dict(drug_node_rows(drugs.nodes)),
            outputs=paths.to_dict(),
            repairs=sorted({Repair(file, repair) for file, repair in repairs}),
        )
        if local_dir is None:
            base = output_dir.rstrip("/")
            report.outputs = {k: f"{base}/{Path(v).name}" for k, v in report.outputs.items()}
        write_report(report, paths.report)
        if local_dir is None:
            _copy_out(paths, output_dir)


def _copy_out(paths: OutputPaths, output_dir: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    base = output_dir.rstrip("/")
    for path in (paths.graph, paths.rejected, paths.report):
        with open(path, "rb") as local, FileSystems.create(f"{base}/{path.name}") as remote:
            while block := local.read(COPY_BLOCK):
                remote.write(block)


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
