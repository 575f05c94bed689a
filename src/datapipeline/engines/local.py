"""The local engine: the recipe's steps over whole tables in memory.

Each publication kind is cleaned, matched, merged and given node ids on threads of its own
(Polars runs without the GIL), so matching starts as soon as a kind is clean and one kind's
tail runs while the other is matched. On a rerun, only input files that changed are read and
only titles not matched yet are matched (:mod:`datapipeline.run.state`,
:mod:`datapipeline.run.match_cache`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import polars as pl
import pyarrow as pa

from datapipeline.config import ProcessConfig, Source
from datapipeline.engines import RunRequest
from datapipeline.lake import Lake
from datapipeline.mentions import recipe
from datapipeline.mentions.cleaning import PUB_KEY
from datapipeline.mentions.matching import Matcher, find_mentions, words_and_merge_keys
from datapipeline.mentions.nodes import journal_spellings, shared_source_ids
from datapipeline.mentions.recipe import Cleaned, MentionResult, SourceAccount
from datapipeline.repairs import Repair
from datapipeline.repairs import collect as collect_repairs
from datapipeline.run import state as run_state
from datapipeline.run.match_cache import CachedMatcher
from datapipeline.run.outputs import OutputSet, write_outputs
from datapipeline.run.report import RunReport
from datapipeline.run.sources import discover_sources, read_source
from datapipeline.run.timing import StepTimer
from datapipeline.schema import (
    CLINICAL_TRIALS,
    DRUGS,
    PUBMED,
    SOURCE_FILE,
    SOURCE_ROW,
    SourceKind,
)

log = logging.getLogger(__name__)

#: Publication keys (``PUB_KEY``) of one kind: kind i numbers its rows from i * KEYS_PER_KIND.
KEYS_PER_KIND = 2**31


def build_mentions(
    raw_drugs: pl.DataFrame,
    raw_publications: dict[str, pl.DataFrame],
    matcher: Matcher = find_mentions,
    cleaned: Mapping[str, Cleaned] | None = None,
) -> MentionResult:
    """The recipe over whole tables: raw rows (canonical string columns + provenance) → graph.

    ``raw_publications`` maps a publication kind (``pubmed``, ``clinical_trials``) to its rows;
    ``matcher`` finds the mentions; ``cleaned``: the clean step's result for a kind's raw rows,
    when the caller cleaned them already (as they were read).

    Every kept row gets a number (``PUB_KEY``): the matcher names titles by it, merging keeps
    the first row's. Matching runs on a thread while the rows are merged.
    """
    drugs = recipe.prepare_drugs(raw_drugs)
    patterns = drugs.patterns

    def prepare(
        kind: SourceKind, first_key: int, match_pool: ThreadPoolExecutor
    ) -> tuple[SourceAccount, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """One kind from cleaning to its mentioned publications: (its account, its rejected
        rows, its journal spelling counts, one row per mention with the node columns of its
        publication)."""
        if cleaned is not None and kind.name in cleaned:
            clean = cleaned[kind.name]
        else:
            clean = recipe.clean(raw_publications[kind.name], kind)
        kept = clean.kept
        numbered = kept.with_columns(
            pl.int_range(first_key, first_key + kept.height, dtype=pl.UInt32).alias(PUB_KEY)
        )
        # one byte-table pass gives both the words matched and the keys merged on
        words, merge_keys = words_and_merge_keys(numbered.get_column("title"))
        titles = numbered.select(
            pl.col(PUB_KEY).alias("pub_id"), "title", "kind", SOURCE_FILE, SOURCE_ROW
        )
        matching = match_pool.submit(matcher, titles, patterns, words)
        records, merged = recipe.merge(numbered, merge_keys)  # while the titles are matched
        shared = shared_source_ids(records)
        spellings = journal_spellings(records)
        mentions = matching.result()
        is_node = records.get_column(PUB_KEY).is_in(mentions.get_column("pub_id").implode())
        nodes = recipe.node_ids(records, is_node, shared)
        columns = nodes.select(PUB_KEY, "id", "type", "source_id", "title", "date", "journal")
        mentioned = columns.join(mentions, left_on=PUB_KEY, right_on="pub_id").drop(PUB_KEY)
        # in node id order here, on this kind's thread: the graph's sort then finds it done
        mentioned = mentioned.sort("id", multithreaded=False)
        return clean.account + merged, clean.rejected, spellings, mentioned

    kinds = [k for k in (PUBMED, CLINICAL_TRIALS) if k.name in raw_publications]
    accounts = {DRUGS.name: drugs.account}
    rejected = [drugs.rejected]
    spelling_counts = []
    mentioned_parts = []
    with (
        ThreadPoolExecutor(2, thread_name_prefix="prepare") as pool,
        ThreadPoolExecutor(2, thread_name_prefix="match") as match_pool,
    ):
        # Keys are unique across kinds: each kind numbers from its own block of 2**31.
        prepared = [
            pool.submit(prepare, kind, index * KEYS_PER_KIND, match_pool)
            for index, kind in enumerate(kinds)
        ]
        for kind, future in zip(kinds, prepared, strict=True):
            accounts[kind.name], rejected_rows, spellings, mentioned_rows = future.result()
            rejected.append(rejected_rows)
            spelling_counts.append(spellings)
            mentioned_parts.append(mentioned_rows)
    # journal names over every kind's records (a journal's spellings span kinds)
    names = recipe.journal_names(spelling_counts)
    # Each kind's node ids start with its own "<type>:" (see publication_node_ids): its rows,
    # sorted by id, put end to end in the order of those prefixes are sorted too.
    by_type = sorted(mentioned_parts, key=lambda part: str(part.get_column("type").first()) + ":")
    mentioned = (
        pl.concat(by_type, how="diagonal_relaxed")
        .join(names, on="journal", how="left", maintain_order="left")
        .select("id", "type", "source_id", "title", "date", "journal_name", "drug_id")
    )
    return MentionResult(
        graph=recipe.assemble(drugs.nodes, mentioned),
        accounts=accounts,
        rejected=recipe.sorted_rejected_rows(rejected),
    )


class TableSource(Protocol):
    """Where tables are read from: a :class:`Lake` or a warehouse."""

    def read_table(self, table: str) -> pa.Table: ...


def _read_table(tables: TableSource, table: str) -> pl.DataFrame:
    if isinstance(tables, (Lake, run_state.ImportedParts)):
        return tables.read_frame(table)
    return pl.from_arrow(tables.read_table(table))  # type: ignore[return-value]


def process_tables(
    tables: TableSource,
    outputs: OutputSet,
    config: ProcessConfig | None = None,
    timer: StepTimer | None = None,
    matcher: Matcher = find_mentions,
    repairs: list[Repair] | None = None,
) -> RunReport:
    """Tables (a lake, a warehouse, or the parts a run just imported) → graph.json, rejected
    rows and run report, written into ``outputs`` (published when its block ends).
    ``repairs``: those made while importing the tables in the same run, for the report."""
    config = config or ProcessConfig()
    timer = timer or StepTimer()
    with timer.step("read warehouse" if hasattr(tables, "query") else "read lake"):
        drugs = _read_table(tables, config.tables["drugs"])
        publications = {
            kind: _read_table(tables, config.tables[kind]) for kind in ("pubmed", "clinical_trials")
        }
        cleaned = {}
        if isinstance(tables, run_state.ImportedParts):
            # parts cleaned as they were read (see run_local): not cleaned again
            for kind in ("pubmed", "clinical_trials"):
                done = tables.cleaned_table(config.tables[kind])
                if done is not None:
                    cleaned[kind] = done
    with timer.step("clean and match"):
        result = build_mentions(drugs, publications, matcher, cleaned)
    with timer.step("write graph"):
        report = write_outputs(result, outputs, repairs)
    report.seconds = timer.seconds
    return report


def _reading_and_cleaning(imported: run_state.ImportedParts) -> Callable[[Source], pa.Table]:
    """:func:`read_source` that also runs the clean step on the publication rows it read, on
    the reading thread: cleaning (row by row) overlaps the reading of the other files."""

    def read(source: Source) -> pa.Table:
        table = read_source(source)
        if source.source_kind in (PUBMED.name, CLINICAL_TRIALS.name):
            kind = PUBMED if source.source_kind == PUBMED.name else CLINICAL_TRIALS
            imported.add_cleaned(source, recipe.clean(pl.DataFrame(table), kind))
        return table

    return read


def run_local(request: RunRequest) -> RunReport:
    """The main job on the local engine: import the files that changed into the lake (read
    and cleaned two at a time), then process the tables, the parts just read from memory while
    their Parquet files are written."""
    timer = StepTimer(progress=request.progress)
    sources = discover_sources(request.data_folder)
    lake = Lake(request.lake)
    changes = run_state.Changes(full_refresh=request.full_refresh)
    with timer.step("import"), collect_repairs() as repairs:
        # a full refresh starts from an empty state: every file is read, every title matched
        state = run_state.State(lake) if request.full_refresh else run_state.State.load(lake)
        imported = run_state.ImportedParts(lake, state)
        run_state.import_changed(
            sources,
            lake,
            state,
            changes,
            _reading_and_cleaning(imported),
            imported,
            request.progress,
        )
    # the outputs are published once the lake and the state are written too
    with OutputSet(request.output_dir, ProcessConfig()) as outputs:
        matcher = CachedMatcher(lake, state, changes)
        try:
            report = process_tables(
                imported, outputs, timer=timer, matcher=matcher, repairs=repairs
            )
        finally:
            imported.wait()
            matcher.wait()
        state.save()
    report.changes = changes
    return report
