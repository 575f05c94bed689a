"""The stream engine: the lake processed one part at a time, in bounded memory.

``datapipeline run --engine stream`` writes the graph.json, run_report.json and
rejected_rows.jsonl the local engine writes, byte for byte, with the same steps
(:mod:`datapipeline.mentions.recipe`); only the order of the work differs, so that memory
follows the size of a part and of a bucket, not of the lake.

Pass 1, three lake parts at a time (the next part is read meanwhile): the rows are cleaned
(rejected rows are few: they are kept), the kept titles matched, and of each kept row only two
hashes stay in memory, of its merge key (its title's ``title_merge_keys``, a function of the
lower case, and its date) and of its id. Rows with a mention, which alone can become nodes,
are spilled to temporary Parquet files twice: as node rows sorted by node id, and as edge rows
sorted by drug id, one file per part; a sample of the keys cuts them into ranges (buckets) at
the end of the pass. Journal spelling counts are summed.

Then the rows whose key hash or id hash occurs more than once (duplicates, ids used twice, and
hash collisions: a superset, a few rows in a thousand) are read again from the lake, cleaned,
merged and given node ids among themselves (the recipe's merge and node-id steps). That is
exact: a row outside this set has an id and a key no other row has, so it is a record of its
own, and its node id is the one pass 1 gave it. The spelling counts are corrected for the
merged records, and the spilled rows of merged records replaced by them.

Last, bucket after bucket is read (from every part's file, skipping the row groups outside its
range), turned into graph tables by the recipe's assemble step (nodes sorted by id, edges by
source, target, key: buckets are ranges of the sort key, so their concatenation is sorted) and
encoded into graph.json as it goes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from datapipeline.config import ProcessConfig
from datapipeline.engines import RunRequest
from datapipeline.engines.stream.bucketed import BucketedGraph
from datapipeline.engines.stream.records import RepeatedRecords, merge_repeated
from datapipeline.engines.stream.scan import PUBLICATION_KINDS, Scan
from datapipeline.lake import PARQUET_SUFFIX, Lake
from datapipeline.mentions import recipe
from datapipeline.mentions.matching import Matcher, find_mentions
from datapipeline.mentions.parquet_graph import save_graph_files
from datapipeline.mentions.recipe import SourceAccount
from datapipeline.repairs import Repair
from datapipeline.run.imports import Changes, repairs_of
from datapipeline.run.outputs import (
    OutputSet,
    with_rejected_files,
    write_rejected,
    write_report,
)
from datapipeline.run.report import RunReport
from datapipeline.run.timing import StepTimer
from datapipeline.schema import DRUGS

#: Node or edge rows per bucket of the last step (its memory).
ROWS_PER_BUCKET = 500_000


def _accounts(scan: Scan, records: RepeatedRecords) -> dict[str, SourceAccount]:
    """Each kind's account: the clean step's shares, the merge step's for the rows read
    again, and every other kept row published as a record of its own."""
    accounts = {}
    for kind in PUBLICATION_KINDS:
        kept = sum(p.kept for p in scan.parts if p.kind is kind)
        merged = records.accounts.get(kind.name, SourceAccount())
        alone = SourceAccount(published=kept - merged.published - merged.merged)
        accounts[kind.name] = scan.accounts.get(kind.name, SourceAccount()) + merged + alone
    return accounts


def process_lake(
    lake: Lake,
    outputs: OutputSet,
    config: ProcessConfig | None = None,
    *,
    timer: StepTimer | None = None,
    matcher: Matcher = find_mentions,
    repairs: list[Repair] | None = None,
    changes: Changes | None = None,
    rows_per_bucket: int = ROWS_PER_BUCKET,
    spill_dir: Path | None = None,
) -> RunReport:
    """The process job, part by part: the outputs of
    :func:`datapipeline.processing.process`, written into ``outputs`` (published when its
    block ends).

    ``spill_dir``: where the temporary files go (default: the system's temporary folder);
    ``rows_per_bucket``: the size of the last step's buckets (tests make it small).
    """
    config = config or ProcessConfig()
    timer = timer or StepTimer()
    with timer.step("read lake"):
        raw_drugs = lake.read_frame(config.tables["drugs"])
        tables: dict[str, str] = {str(k): v for k, v in config.tables.items()}
        kinds = [(k, lake.live_parts(tables[k.name])) for k in PUBLICATION_KINDS]
    drugs = recipe.prepare_drugs(raw_drugs)
    with tempfile.TemporaryDirectory(prefix="datapipeline-stream-", dir=spill_dir) as temp:
        scan = Scan(lake, Path(temp), drugs.patterns, matcher, rows_per_bucket)
        with timer.step("clean and match"):
            scan.run(kinds, timer.progress)
        with timer.step("merge duplicates"):
            records = merge_repeated(lake, scan.parts)
            names = recipe.journal_names([*scan.spellings, records.spellings])
        with timer.step("write graph"):
            graph = BucketedGraph(scan, records, names, drugs.nodes)
            save_graph_files(outputs.staged.graph, graph.nodes(), graph.edges(), lake=lake)
            rejected = recipe.sorted_rejected_rows([drugs.rejected, *scan.rejected])
            files = changes.rejected_files if changes is not None else []
            write_rejected(with_rejected_files(rejected, files), outputs.staged.rejected)
            report = RunReport(
                accounts={DRUGS.name: drugs.account, **_accounts(scan, records)},
                graph=graph.summary.to_dict(graph.drugs),
                outputs=outputs.locations(),
                repairs=list(repairs or []),
                rejected_files=list(files),
            )
            write_report(report, outputs.staged.report)
    if changes is not None:
        for part in scan.parts:
            table = tables[part.kind.name]
            changes.matched_titles[f"{table}/{Path(part.path).name[: -len(PARQUET_SUFFIX)]}"] = (
                part.kept
            )
    report.seconds = timer.seconds
    return report


def run_stream(request: RunRequest, *, rows_per_bucket: int = ROWS_PER_BUCKET) -> RunReport:
    """The main job on the stream engine: import the files that changed into the lake, then
    :func:`process_lake`."""
    timer = StepTimer(progress=request.progress)
    lake = Lake(request.lake)
    changes = Changes(full_refresh=request.full_refresh)
    with timer.step("import"):
        # the parts are read back one at a time
        manifest = request.import_files(lake, changes, lambda _: None)
    tables: dict[str, str] = {str(k): v for k, v in ProcessConfig().tables.items()}
    with OutputSet(request.output_dir, ProcessConfig()) as outputs:
        report = process_lake(
            lake,
            outputs,
            timer=timer,
            repairs=repairs_of(manifest, list(tables.values())),
            changes=changes,
            rows_per_bucket=rows_per_bucket,
        )
    report.changes = changes
    return report
