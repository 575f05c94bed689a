"""The local engine: the recipe's steps in memory, part by part, then kind by kind.

Each lake part is cleaned and its titles matched on its own (two parts at a time; a large file
is several parts, so it keeps both cores busy); a run keeps both results per part
(:mod:`datapipeline.run.part_cache`), so a rerun cleans and matches only the parts it wrote.
Then each publication kind is merged and given node ids on a thread of its own (Polars runs
without the GIL), and the graph is assembled from the mentioned records.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import polars as pl
import pyarrow as pa

from datapipeline.config import ProcessConfig
from datapipeline.engines import RunRequest
from datapipeline.lake import Lake
from datapipeline.lake.parts import Manifest
from datapipeline.mentions import recipe
from datapipeline.mentions.assembly import MENTIONED_SCHEMA
from datapipeline.mentions.cleaning import PUB_KEY, title_merge_keys
from datapipeline.mentions.matching import find_mentions, words_and_merge_keys
from datapipeline.mentions.nodes import journal_spellings, shared_source_ids
from datapipeline.mentions.recipe import Cleaned, MentionResult, PreparedDrugs, SourceAccount
from datapipeline.run.imports import Changes, Pack, RejectedFile, repairs_of
from datapipeline.run.outputs import OutputSet, write_outputs
from datapipeline.run.part_cache import PartCache, match_part, patterns_digest
from datapipeline.run.report import RunReport
from datapipeline.run.timing import StepTimer
from datapipeline.schema import CLINICAL_TRIALS, DRUGS, KINDS, PUBMED

log = logging.getLogger(__name__)

#: Publication keys (``PUB_KEY``) of one kind: kind i numbers its rows from i * KEYS_PER_KIND.
KEYS_PER_KIND = 2**31
#: Lake parts cleaned and matched at once.
PART_THREADS = 2
PUBLICATION_KINDS = (PUBMED, CLINICAL_TRIALS)


@dataclass(frozen=True)
class PartRows:
    """One part's share of a kind: the clean step's result, its titles' mentions
    (``row``: the kept row's position, ``drug_id``) and its kept titles' merge keys (None:
    computed with the kind's)."""

    cleaned: Cleaned
    mentions: pl.DataFrame
    merge_keys: pl.Series | None = None


def clean_and_match(raw: pl.DataFrame, kind_name: str, drugs: PreparedDrugs) -> PartRows:
    """The clean and match steps on one batch of raw rows, nothing cached."""
    cleaned = recipe.clean(raw, KINDS[kind_name])
    words, merge_keys = words_and_merge_keys(cleaned.kept.get_column("title"))
    titles = cleaned.kept.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), "title")
    mentions = find_mentions(titles, drugs.patterns, words, title_id="row")
    return PartRows(cleaned, mentions, merge_keys)


def build_from_parts(drugs: PreparedDrugs, parts: dict[str, list[PartRows]]) -> MentionResult:
    """The merge, node-id, spellings and assemble steps over every part of each kind
    (``parts``: kind → its parts, in part order)."""

    def prepare(
        kind_name: str, first_key: int
    ) -> tuple[SourceAccount, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """One kind from its parts to its mentioned publications: (its account, its rejected
        rows, its journal spelling counts, one row per mention with the node columns of its
        publication)."""
        kind_parts = parts[kind_name]
        cleaned = Cleaned.concat(p.cleaned for p in kind_parts) if kind_parts else None
        if cleaned is None:
            return SourceAccount(), pl.DataFrame(), _no_spellings(), pl.DataFrame()
        kept = cleaned.kept
        numbered = kept.with_columns(
            pl.int_range(first_key, first_key + kept.height, dtype=pl.UInt32).alias(PUB_KEY)
        )
        # the mentions named by the rows' numbers: each part's from its first row's
        offsets, start = [], first_key
        for p in kind_parts:
            offsets.append(p.mentions.with_columns((pl.col("row") + start).alias("pub_id")))
            start += p.cleaned.kept.height
        mentions = pl.concat(offsets).select("pub_id", "drug_id") if offsets else None
        if all(p.merge_keys is not None for p in kind_parts):
            merge_keys = pl.concat([p.merge_keys for p in kind_parts if p.merge_keys is not None])
        else:
            merge_keys = title_merge_keys(kept.get_column("title"))
        records, merged = recipe.merge(numbered, merge_keys)
        shared = shared_source_ids(records)
        spellings = journal_spellings(records)
        assert mentions is not None
        is_node = records.get_column(PUB_KEY).is_in(mentions.get_column("pub_id").implode())
        nodes = recipe.node_ids(records, is_node, shared)
        columns = nodes.select(PUB_KEY, "id", "type", "source_id", "title", "date", "journal")
        mentioned = columns.join(
            mentions.cast({"pub_id": pl.UInt32}), left_on=PUB_KEY, right_on="pub_id"
        ).drop(PUB_KEY)
        # in node id order here, on this kind's thread: the graph's sort then finds it done
        mentioned = mentioned.sort("id", multithreaded=False)
        return cleaned.account + merged, cleaned.rejected, spellings, mentioned

    kinds = [k.name for k in PUBLICATION_KINDS if k.name in parts]
    accounts = {DRUGS.name: drugs.account}
    rejected = [drugs.rejected]
    spelling_counts = []
    mentioned_parts = []
    with ThreadPoolExecutor(2, thread_name_prefix="kind") as pool:
        # Keys are unique across kinds: each kind numbers from its own block of 2**31.
        prepared = [
            pool.submit(prepare, kind, index * KEYS_PER_KIND) for index, kind in enumerate(kinds)
        ]
        for kind, future in zip(kinds, prepared, strict=True):
            accounts[kind], rejected_rows, spellings, mentioned_rows = future.result()
            rejected.append(rejected_rows)
            spelling_counts.append(spellings)
            if mentioned_rows.height:
                mentioned_parts.append(mentioned_rows)
    # journal names over every kind's records (a journal's spellings span kinds)
    names = recipe.journal_names(spelling_counts)
    # Each kind's node ids start with its own "<type>:" (see publication_node_ids): its rows,
    # sorted by id, put end to end in the order of those prefixes are sorted too.
    by_type = sorted(mentioned_parts, key=lambda part: str(part.get_column("type").first()) + ":")
    columns = ["id", "type", "source_id", "title", "date", "journal_name", "drug_id"]
    if by_type:
        mentioned = (
            pl.concat(by_type, how="diagonal_relaxed")
            .join(names, on="journal", how="left", maintain_order="left")
            .select(columns)
        )
    else:
        mentioned = pl.DataFrame(schema=MENTIONED_SCHEMA)
    return MentionResult(
        graph=recipe.assemble(drugs.nodes, mentioned),
        accounts=accounts,
        rejected=recipe.sorted_rejected_rows(r for r in rejected if r.width),
    )


def _no_spellings() -> pl.DataFrame:
    return pl.DataFrame(schema={"journal": pl.String, "len": pl.UInt32})


def build_mentions(
    raw_drugs: pl.DataFrame, raw_publications: dict[str, pl.DataFrame]
) -> MentionResult:
    """The recipe over whole tables: raw rows (canonical string columns + provenance) → graph.

    ``raw_publications`` maps a publication kind (``pubmed``, ``clinical_trials``) to its rows.
    """
    drugs = recipe.prepare_drugs(raw_drugs)
    with ThreadPoolExecutor(PART_THREADS, thread_name_prefix="part") as pool:
        futures = {
            kind: pool.submit(clean_and_match, raw, kind, drugs)
            for kind, raw in raw_publications.items()
        }
        parts = {kind: [future.result()] for kind, future in futures.items()}
    return build_from_parts(drugs, parts)


class TableSource(Protocol):
    """Where tables are read from: a :class:`Lake` or a warehouse."""

    def read_table(self, table: str) -> pa.Table: ...


def _read_table(tables: TableSource, table: str) -> pl.DataFrame:
    if isinstance(tables, Lake):
        return tables.read_frame(table)
    return pl.from_arrow(tables.read_table(table))  # type: ignore[return-value]


def process_tables(
    tables: TableSource,
    outputs: OutputSet,
    config: ProcessConfig | None = None,
    timer: StepTimer | None = None,
) -> RunReport:
    """Tables (a lake or a warehouse) → graph.json, rejected rows and run report, written into
    ``outputs`` (published when its block ends). A lake's report lists the repairs its parts
    record."""
    config = config or ProcessConfig()
    timer = timer or StepTimer()
    with timer.step("read warehouse" if hasattr(tables, "query") else "read lake"):
        drugs = _read_table(tables, config.tables["drugs"])
        publications = {
            kind: _read_table(tables, config.tables[kind]) for kind in ("pubmed", "clinical_trials")
        }
    repairs = []
    if isinstance(tables, Lake):
        repairs = repairs_of(tables.manifest(), [config.tables[k] for k in config.tables])
    with timer.step("clean and match"):
        result = build_mentions(drugs, publications)
    with timer.step("write graph"):
        lake = tables if isinstance(tables, Lake) else None
        report = write_outputs(result, outputs, repairs, lake=lake)
    report.seconds = timer.seconds
    return report


class LakeParts:
    """The parts of a run's tables, each read, cleaned and matched at most once, from memory
    (parts this run wrote), the cache (parts an earlier run processed) or the lake."""

    def __init__(self, lake: Lake, cache: PartCache, changes: Changes) -> None:
        self.lake = lake
        self.cache = cache
        self.changes = changes
        #: parts this run wrote, their rows still in memory
        self.fresh: dict[tuple[str, str], pa.Table] = {}
        #: clean steps started as parts were written
        self.cleaning: dict[tuple[str, str], Future[Cleaned]] = {}
        #: the pattern set the parts were matched with
        self.digest = ""
        self._pool = ThreadPoolExecutor(PART_THREADS, thread_name_prefix="part")

    def written(self, pack: Pack) -> None:
        """A part this run wrote: keep its rows; clean publication rows at once."""
        place = (pack.table, pack.name)
        self.fresh[place] = pack.data
        kind = _kind_of_table(pack.table)
        if kind is not None:
            self.cleaning[place] = self._pool.submit(
                recipe.clean, pl.DataFrame(pack.data), KINDS[kind]
            )

    def raw(self, table: str, part: str, ranges: list[tuple[int, int]] | None) -> pl.DataFrame:
        """The part's raw rows (in ``ranges``)."""
        data = self.fresh.get((table, part))
        if data is None:
            return self.lake.read_part_frame(self.lake.part_path(table, part), ranges)
        frame = pl.DataFrame(data)
        if ranges is None:
            return frame
        return pl.concat([frame.slice(offset, rows) for offset, rows in ranges])

    def rows(
        self, manifest: Manifest, table: str, kind: str, drugs: PreparedDrugs
    ) -> list[Future[PartRows]]:
        """Each live part of ``table`` cleaned and matched (started, in part order)."""
        patterns = drugs.patterns.get_column("pattern")
        digest = self.digest = patterns_digest(patterns.to_list())
        self.cache.keep_patterns(patterns, digest)
        futures = []
        for part, entries in manifest.live(table):
            every = manifest.parts[(table, part)][2]
            whole = entries is None or every is None or len(entries) == len(every)
            ranges = None if whole else [(e.offset, e.rows) for e in entries or []]
            futures.append(self._pool.submit(self._part, table, part, kind, ranges, drugs, digest))
        return futures

    def _part(
        self,
        table: str,
        part: str,
        kind: str,
        ranges: list[tuple[int, int]] | None,
        drugs: PreparedDrugs,
        digest: str,
    ) -> PartRows:
        place = (table, part)
        if place in self.cleaning and ranges is None:
            # written by this run: cleaned as it was read. Its cleaned rows are cached the
            # first time a run reads the part back, not now: the run that imports a part
            # would pay for the cache (a tenth of its time) only to help the next one.
            cleaned = self.cleaning[place].result()
        else:
            cached_cleaned = None if ranges is not None else self.cache.cleaned(table, part)
            if cached_cleaned is not None:
                cleaned = cached_cleaned
            else:
                cleaned = recipe.clean(self.raw(table, part, ranges), KINDS[kind])
                if ranges is None:
                    self.cache.keep_cleaned(table, part, cleaned)
        cached = None if ranges is not None else self.cache.matches(table, part)
        old = self.cache.patterns(cached.digest) if cached is not None else None
        words = merge_keys = None
        if cached is None or cached.digest != digest:
            words, merge_keys = words_and_merge_keys(cleaned.kept.get_column("title"))
        patterns = drugs.patterns.get_column("pattern")
        matches, titles, matched_patterns = match_part(
            cleaned.kept, patterns, digest, cached, old, words
        )
        key = f"{table}/{part}"
        if titles and matched_patterns == patterns.len():
            self.changes.matched_titles[key] = titles
        elif titles:
            self.changes.rematched[key] = (titles, matched_patterns)
        if ranges is None and matches is not cached:
            self.cache.keep_matches(table, part, matches)
        mentions = matches.pairs.join(drugs.patterns, on="pattern").select("row", "drug_id")
        return PartRows(cleaned, mentions, merge_keys)

    def close(self) -> None:
        """Stop the part threads."""
        self._pool.shutdown(wait=True)


def _kind_of_table(table: str) -> str | None:
    tables: dict[str, str] = {str(k): v for k, v in ProcessConfig().tables.items()}
    for kind in PUBLICATION_KINDS:
        if tables[kind.name] == table:
            return kind.name
    return None


def process_lake_parts(
    lake: Lake,
    manifest: Manifest,
    parts: LakeParts,
    outputs: OutputSet,
    timer: StepTimer,
    rejected_files: list[RejectedFile] | None = None,
) -> RunReport:
    """The graph of the lake's tables, part by part (see :class:`LakeParts`)."""
    config = ProcessConfig()
    tables: dict[str, str] = {str(k): v for k, v in config.tables.items()}
    with timer.step("read lake"):
        drug_frames = [
            parts.raw(tables["drugs"], part, None)
            for part, entries in manifest.live(tables["drugs"])
            if entries is None or entries
        ]
    with timer.step("clean and match"):
        drugs = recipe.prepare_drugs(pl.concat(drug_frames, how="diagonal_relaxed"))
        started = {
            kind.name: parts.rows(manifest, tables[kind.name], kind.name, drugs)
            for kind in PUBLICATION_KINDS
        }
        rows = {kind: [f.result() for f in futures] for kind, futures in started.items()}
        result = build_from_parts(drugs, rows)
    with timer.step("write graph"):
        repairs = repairs_of(manifest, list(tables.values()))
        report = write_outputs(result, outputs, repairs, rejected_files, lake=lake)
    report.seconds = timer.seconds
    return report


def run_local(request: RunRequest) -> RunReport:
    """The main job on the local engine: import the files that changed into the lake (read
    two at a time, cleaned as their parts are written), then process the lake part by part,
    from memory and the parts' caches where it can."""
    timer = StepTimer(progress=request.progress)
    lake = Lake(request.lake)
    changes = Changes(full_refresh=request.full_refresh)
    cache = PartCache(lake)
    parts = LakeParts(lake, cache, changes)
    try:
        with timer.step("import"):
            manifest = request.import_files(lake, changes, parts.written)
        # the outputs are published once the lake and its caches are written too
        with OutputSet(request.output_dir, ProcessConfig()) as outputs:
            report = process_lake_parts(
                lake, manifest, parts, outputs, timer, changes.rejected_files
            )
            parts.close()
            cache.wait()
            cache.prune(set(manifest.parts), parts.digest)
    finally:
        parts.close()
        cache.wait()
    report.changes = changes
    return report
