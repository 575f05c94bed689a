"""The process job with bounded memory: the lake is read one part at a time.

``datapipeline run --engine stream`` writes the graph.json, run_report.json and
rejected_rows.jsonl the default engine writes, byte for byte, with the same rule functions
(cleaning, merging, matching, node ids, journal names, graph tables, JSON lines); only the order
of the work differs, so that memory follows the size of a part and of a bucket, not of the lake.

Pass 1, three lake parts at a time (the next part is read meanwhile): the rows are cleaned
(rejected rows are few: they are kept), the kept titles matched, and of each kept row only two
hashes stay in memory, of its merge key (its title's ``title_merge_keys``, a function of the
lower case, and its date) and of its id. Rows with a mention, which alone can become nodes,
are spilled to temporary Parquet files twice: as node rows sorted by node id, and as edge rows
sorted by drug id, one file per part; a sample of the keys cuts them into ranges (buckets) at
the end of the pass. Journal spelling counts are summed.

Then the rows whose key hash or id hash occurs more than once (duplicates, ids used twice, and
hash collisions: a superset, a few rows in a thousand) are read again from the lake, cleaned and
merged by :func:`merge_publications`, and given node ids by :func:`publication_node_ids` among
themselves. That is exact: a row outside this set has an id and a key no other row has, so it
is a record of its own, and its node id is the one pass 1 gave it. The spelling counts are
corrected for the merged records, and the spilled rows of merged records replaced by them.

Last, bucket after bucket is read (from every part's file, skipping the row groups outside its
range), turned into graph tables by :func:`graph_from_mentioned` (nodes sorted by id, edges by
source, target, key: buckets are ranges of the sort key, so their concatenation is sorted) and
encoded into graph.json as it goes.
"""

from __future__ import annotations

import math
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from datapipeline import incremental, jobs
from datapipeline.config import ProcessConfig
from datapipeline.errors import LakeError
from datapipeline.jobs import OutputPaths, RunReport, StepTimer, write_rejected, write_report
from datapipeline.lake import PARQUET_SUFFIX, Lake
from datapipeline.mentions.cleaning import PUB_KEY, clean_publications, merge_publications
from datapipeline.mentions.graph import (
    MENTIONED_SCHEMA,
    Chunk,
    Matcher,
    drug_node_rows,
    drug_nodes,
    graph_from_mentioned,
    journal_display_names,
    journal_node_rows,
    journal_spellings,
    publication_node_ids,
    publication_node_rows,
    summed_spellings,
)
from datapipeline.mentions.matching import WORDS, find_mentions, words_and_merge_keys
from datapipeline.mentions.parquet_graph import save_graph_files
from datapipeline.mentions.transform import (
    SourceAccount,
    _reasons,
    _rejected_rows,
    prepare_drugs,
)
from datapipeline.repairs import Repair
from datapipeline.repairs import collect as collect_repairs
from datapipeline.schema import CLINICAL_TRIALS, DRUGS, PUBMED, SOURCE_FILE, SOURCE_ROW, SourceKind

Progress = Callable[..., None]

#: Node or edge rows per bucket of the last step (its memory).
ROWS_PER_BUCKET = 500_000
#: Compression of the temporary files (written once and read once, on a local disk).
SPILL_COMPRESSION: Literal["lz4", "uncompressed"] = "uncompressed"
#: Rows per row group of the temporary files (the unit a range read may skip).
SPILL_ROW_GROUP = 8_192
#: One key in this many is kept to cut the ranges.
SAMPLE_EVERY = 64
#: Parts cleaned and matched at once in pass 1. Their results are taken in order: with two, a
#: large part held the next one back while a small one had finished (36M titles: 62–68 s → 55 s).
PARTS_IN_FLIGHT = 3
#: Encoded chunks of graph.json in flight (each ENCODE_CHUNK rows).

#: The kinds of publications, in the order their rows are numbered.
PUBLICATION_KINDS = (PUBMED, CLINICAL_TRIALS)
#: A node row and an edge row as spilled.
_NODE_COLUMNS = [PUB_KEY, "id", "type", "source_id", "title", "date", "journal"]
_EDGE_COLUMNS = [PUB_KEY, "drug_id", "id", "date", "journal"]
_EDGE_SCHEMA = {
    PUB_KEY: pl.UInt32,
    "drug_id": pl.String,
    "id": pl.String,
    "date": pl.Date,
    "journal": pl.String,
}
#: The columns ``graph_from_mentioned`` reads, with their types (absent ones are given nulls).
_MENTIONED = MENTIONED_SCHEMA


def _with_missing(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the columns of :data:`_MENTIONED` it lacks, null."""
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in _MENTIONED.items() if c not in frame]
    return frame.with_columns(missing)


def repeated(values: pl.Series) -> pl.Series:
    """Whether each value occurs more than once (a null never does).

    By a sort rather than a hash table: on tens of millions of hashes a sort is several times
    faster than ``is_duplicated`` and needs a fraction of its memory.
    """
    ordered = values.drop_nulls().sort()
    twice = ordered.filter((ordered == ordered.shift(1)).fill_null(False)).unique()
    if twice.is_empty():
        return pl.repeat(False, values.len(), dtype=pl.Boolean, eager=True)
    return values.is_in(twice.implode()).fill_null(False)


def boundaries(sample: pl.Series, buckets: int) -> pl.Series:
    """Ascending values cutting ``sample`` into ``buckets`` ranges of similar size."""
    ordered = sample.drop_nulls().sort()
    if buckets <= 1 or ordered.is_empty():
        return ordered.head(0)
    cuts = [ordered.len() * k // buckets for k in range(1, buckets)]
    return ordered.gather(cuts).unique(maintain_order=True)


def bucket_of(cuts: pl.Series, values: pl.Series) -> pl.Series:
    """The range (0 … ``len(cuts)``) of each value: values below ``cuts[0]`` are in range 0."""
    if cuts.is_empty():
        return pl.repeat(0, values.len(), dtype=pl.UInt32, eager=True)
    return cuts.search_sorted(values, side="right").cast(pl.UInt32)


def _counts(counts: pl.DataFrame, sign: int = 1) -> pl.DataFrame:
    """Spelling counts (``journal``, ``len``) as signed 64-bit numbers, times ``sign``."""
    return counts.with_columns(pl.col("len").cast(pl.Int64) * sign)


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in buffers of its own.

    A few rows taken from a part (filter, gather, join) share the part's string buffers, which
    stay alive as long as they do: kept over every part, they would hold the whole lake.
    """
    return pl.DataFrame(frame.to_arrow())


def _canonical(raw: pl.DataFrame, kind: SourceKind) -> pl.DataFrame:
    """``raw`` with every canonical column of ``kind`` (a part without one gets nulls)."""
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in kind.columns if c not in raw]
    return raw.with_columns(missing) if missing else raw


@dataclass
class _Part:
    """What pass 1 keeps of one lake part."""

    kind: SourceKind
    path: str
    index: int
    #: rows read in the parts before: a row's number (``PUB_KEY``) is offset + its position
    offset: int
    raw_rows: int
    kept: int
    #: positions in the part of its rejected rows
    rejected_at: pl.Series
    #: per kept row, in order: ``key`` (hash of the merge key), ``id_key`` (of the id, or null)
    keys: pl.DataFrame
    #: numbers of the kept rows that mention a drug, ascending
    mentioned: pl.Series


class _Buckets:
    """Rows spilled part by part, read back by ranges of a sort key.

    Each part's rows are written sorted by the key, in small row groups: a range is read from
    every part's file, and the row-group statistics let the reader skip the groups outside it.
    The ranges are cut at the end of pass 1 from a sample of every part's keys (no part alone
    tells the spread of the keys: a PubMed file holds one range of ids).
    """

    def __init__(self, root: Path, key: str, schema: dict[str, Any]) -> None:
        self.root = root
        self.key = key
        self.schema = schema
        self.rows = 0
        self.samples: list[pl.Series] = []
        self.cuts = pl.Series(key, [], dtype=pl.String)

    def write(self, frame: pl.DataFrame, part: int) -> None:
        """Write ``frame`` (the rows of one part) sorted by the key, and sample its keys."""
        ordered = frame.sort(self.key)
        self.root.mkdir(parents=True, exist_ok=True)
        ordered.write_parquet(
            self.root / f"{part:06d}.parquet",
            compression=SPILL_COMPRESSION,
            row_group_size=SPILL_ROW_GROUP,
        )
        sample = ordered.get_column(self.key).gather_every(SAMPLE_EVERY)
        self.samples.append(pl.Series(self.key, sample.to_arrow()))
        self.rows += ordered.height

    def cut(self, rows_per_bucket: int) -> None:
        """Fix the ranges: about ``rows_per_bucket`` rows each."""
        count = max(1, math.ceil(self.rows / rows_per_bucket))
        if self.samples:
            self.cuts = boundaries(pl.concat(self.samples), count)

    @property
    def count(self) -> int:
        """How many ranges (0 when no row was spilled)."""
        return self.cuts.len() + 1 if self.rows else 0

    def of(self, values: pl.Series) -> pl.Series:
        """The range of each value."""
        return bucket_of(self.cuts, values)

    def read(self, bucket: int) -> pl.DataFrame:
        """The rows of range ``bucket``, from every part."""
        files = sorted(self.root.glob("*.parquet")) if self.root.is_dir() else []
        if not files:
            return pl.DataFrame(schema=self.schema)
        key = pl.col(self.key)
        within = pl.lit(True)
        if bucket > 0:
            within = within & (key >= self.cuts[bucket - 1])
        if bucket < self.cuts.len():
            within = within & (key < self.cuts[bucket])
        return pl.scan_parquet(files).filter(within).collect()


@dataclass
class _PartResult:
    """What pass 1 over one part hands back to the main thread."""

    part: _Part
    pubs: pl.DataFrame
    edges: pl.DataFrame
    spellings: pl.DataFrame
    mentioned_spellings: pl.DataFrame
    rejected: pl.DataFrame
    reasons: dict[str, int]


class _Scan:
    """Pass 1 over the publication parts: three parts at a time, the next one read meanwhile.

    Parts are independent: a row's number is its part's offset (rows read in the parts
    before) plus its position in the part. Their results are taken in order, so that what
    depends on order (the buckets' ranges, fixed by the first part with mentions) does not
    depend on which thread finished first.
    """

    def __init__(
        self,
        lake: Lake,
        spill_dir: Path,
        patterns: pl.DataFrame,
        matcher: Matcher,
        rows_per_bucket: int,
    ) -> None:
        self.lake = lake
        self.patterns = patterns
        self.matcher = matcher
        self.rows_per_bucket = rows_per_bucket
        self.parts: list[_Part] = []
        self.nodes = {
            k.name: _Buckets(spill_dir / "nodes" / k.name, "id", _node_schema())
            for k in PUBLICATION_KINDS
        }
        self.edges = _Buckets(spill_dir / "edges", "drug_id", _EDGE_SCHEMA)
        #: journal spelling counts per part: of every kept row, of the rows with a mention
        self.spellings: list[pl.DataFrame] = []
        self.mentioned_spellings: list[pl.DataFrame] = []
        self.rejected: list[pl.DataFrame] = []
        self.reasons: dict[str, dict[str, int]] = {k.name: {} for k in PUBLICATION_KINDS}
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="spill")
        self._writes: deque[Future[None]] = deque()

    def run(self, kinds: list[tuple[SourceKind, list[str]]], progress: Progress) -> None:
        """Pass 1 over every part of ``kinds`` (kind, part paths)."""
        todo = [(kind, path) for kind, paths in kinds for path in paths]
        offset = 0
        try:
            with (
                ThreadPoolExecutor(1, thread_name_prefix="read-part") as reader,
                ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="part") as workers,
            ):
                ahead = deque(reader.submit(self.lake.read_part_frame, p) for _, p in todo[:1])
                running: deque[Future[_PartResult]] = deque()
                for index, (kind, path) in enumerate(todo):
                    raw = ahead.popleft().result()
                    if offset + raw.height > 2**32:
                        raise LakeError(f"{self.lake.url}: more than 2^32 publication rows")
                    if index + 1 < len(todo):
                        ahead.append(reader.submit(self.lake.read_part_frame, todo[index + 1][1]))
                    running.append(workers.submit(self._part, kind, path, index, offset, raw))
                    offset += raw.height
                    del raw
                    while len(running) >= PARTS_IN_FLIGHT:
                        self._take(running.popleft().result())
                        progress("clean and match", len(self.parts), len(todo))
                while running:
                    self._take(running.popleft().result())
                    progress("clean and match", len(self.parts), len(todo))
            while self._writes:
                self._writes.popleft().result()
        finally:
            self._writer.shutdown(wait=True)
        for buckets in [*self.nodes.values(), self.edges]:
            buckets.cut(self.rows_per_bucket)

    def _part(
        self, kind: SourceKind, path: str, index: int, offset: int, raw: pl.DataFrame
    ) -> _PartResult:
        """Pass 1 over one part (on a worker thread: it touches nothing shared)."""
        raw = _canonical(raw, kind).with_row_index("_raw")
        kept, rejected = clean_publications(raw, kind.name)
        kept = kept.with_columns((pl.col("_raw") + offset).cast(pl.UInt32).alias(PUB_KEY))
        words, merge_keys = words_and_merge_keys(kept.get_column("title"))
        titles = kept.select(
            pl.col(PUB_KEY).alias("pub_id"), "title", "kind", SOURCE_FILE, SOURCE_ROW
        ).with_columns(words.alias(WORDS))
        # matching runs on a thread (Polars releases the GIL) while the rest is computed
        with ThreadPoolExecutor(1, thread_name_prefix="match") as pool:
            matching = pool.submit(self.matcher, titles, self.patterns)
            # equal for rows equal but for case (a superset: see title_merge_keys)
            keys = kept.select(
                pl.struct(merge_keys, "date").hash().alias("key"),
                pl.when(pl.col("source_id").is_not_null())
                .then(pl.col("source_id").hash())
                .alias("id_key"),
            )
            spellings = _compact(journal_spellings(kept))
            rejected_rows = _compact(_rejected_rows(raw, rejected, kind.name, list(kind.columns)))
            mentions = matching.result()
        mentioned = mentions.get_column("pub_id").unique().sort()
        # node ids as if every row were a record of its own: right for every row that is
        # (those that are not are replaced after pass 1)
        pubs = publication_node_ids(
            kept.filter(pl.col(PUB_KEY).is_in(mentioned.implode())).select(
                PUB_KEY, "kind", "source_id", "title", "date", "journal"
            )
        ).select(_NODE_COLUMNS)
        edges = mentions.join(
            pubs.select(PUB_KEY, "id", "date", "journal"), left_on="pub_id", right_on=PUB_KEY
        ).select(pl.col("pub_id").alias(PUB_KEY), *_EDGE_COLUMNS[1:])
        part = _Part(
            kind=kind,
            path=path,
            index=index,
            offset=offset,
            raw_rows=raw.height,
            kept=kept.height,
            rejected_at=rejected.get_column("_raw"),
            keys=keys,
            mentioned=mentioned,
        )
        return _PartResult(
            part=part,
            pubs=pubs,
            edges=edges,
            spellings=spellings,
            mentioned_spellings=_compact(journal_spellings(pubs)),
            rejected=rejected_rows,
            reasons=_reasons(rejected),
        )

    def _take(self, result: _PartResult) -> None:
        """Keep what a part left (in part order) and spill its node and edge rows."""
        part = result.part
        self.parts.append(part)
        self.spellings.append(result.spellings)
        self.mentioned_spellings.append(result.mentioned_spellings)
        self.rejected.append(result.rejected)
        reasons = self.reasons[part.kind.name]
        for reason, count in result.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
        self._spill(part.kind, part.index, result.pubs, result.edges)

    def _spill(self, kind: SourceKind, index: int, pubs: pl.DataFrame, edges: pl.DataFrame) -> None:
        """Write the part's node and edge rows on the writer thread."""
        nodes = self.nodes[kind.name]

        def write() -> None:
            if not pubs.is_empty():
                nodes.write(pubs, index)
            if not edges.is_empty():
                self.edges.write(edges, index)

        self._writes.append(self._writer.submit(write))
        # a bounded backlog of writes: memory stays that of a few parts
        while len(self._writes) > 2:
            self._writes.popleft().result()


@dataclass
class _Records:
    """The rows read again (their key or id repeats) and the records they make."""

    #: numbers of every row read again (their spilled rows are replaced)
    numbers: pl.Series
    #: the records with a mention: node columns, ``PUB_KEY`` of their first row
    mentioned: pl.DataFrame
    #: per kind, rows read again minus records (rows merged into another)
    merged: dict[str, int]
    #: spelling counts of every record, of the records with a mention
    spellings: pl.DataFrame
    mentioned_spellings: pl.DataFrame


def _rows_to_read_again(parts: list[_Part]) -> dict[int, tuple[pl.Series, pl.Series]]:
    """Per part index, the rows whose key or id hash occurs more than once: their positions
    in the part and their numbers."""
    found: dict[int, tuple[pl.Series, pl.Series]] = {}
    for kind in PUBLICATION_KINDS:
        of_kind = [p for p in parts if p.kind is kind]
        if not of_kind:
            continue
        keys = pl.concat([p.keys for p in of_kind], rechunk=False)  # no copy: chunks
        again = (repeated(keys.get_column("key")) | repeated(keys.get_column("id_key"))).arg_true()
        start = 0
        for part in of_kind:
            mine = again.filter((again >= start) & (again < start + part.kept)) - start
            start += part.kept
            if mine.is_empty():
                continue
            positions = pl.int_range(part.raw_rows, dtype=pl.UInt32, eager=True)
            kept_at = positions.filter(~positions.is_in(part.rejected_at.implode()))
            at = kept_at.gather(mine)
            found[part.index] = (at, (at.cast(pl.Int64) + part.offset).cast(pl.UInt32))
    return found


def _read_again(lake: Lake, part: _Part, positions: pl.Series, numbers: pl.Series) -> pl.DataFrame:
    """The cleaned rows at ``positions`` of ``part``, read again from the lake."""
    raw = _canonical(lake.read_part_frame(part.path), part.kind)
    if raw.height != part.raw_rows:
        raise LakeError(f"{lake.uri(part.path)}: the part changed while it was processed")
    kept, rejected = clean_publications(raw[positions], part.kind.name)
    if not rejected.is_empty() or kept.height != numbers.len():
        raise LakeError(f"{lake.uri(part.path)}: the part changed while it was processed")
    return _compact(kept.with_columns(numbers.alias(PUB_KEY)))


def _merge_repeated(lake: Lake, parts: list[_Part]) -> _Records:
    """Merge the rows whose key or id repeats, exactly, as the in-memory engine does."""
    wanted = _rows_to_read_again(parts)
    by_index = {p.index: p for p in parts}
    with ThreadPoolExecutor(2, thread_name_prefix="read-again") as pool:
        rows = list(pool.map(lambda i: _read_again(lake, by_index[i], *wanted[i]), sorted(wanted)))
    numbers = (
        pl.concat([n for _, n in wanted.values()])
        if wanted
        else pl.Series(PUB_KEY, [], dtype=pl.UInt32)
    )
    mentioned_numbers = pl.concat(
        [
            by_index[i].mentioned.filter(by_index[i].mentioned.is_in(n.implode()))
            for i, (_, n) in wanted.items()
        ]
        or [pl.Series(PUB_KEY, [], dtype=pl.UInt32)]
    )
    merged: dict[str, int] = {}
    records: list[pl.DataFrame] = []
    for kind in PUBLICATION_KINDS:
        of_kind = [r for r in rows if r.get_column("kind")[0] == kind.name]
        if not of_kind:
            merged[kind.name] = 0
            continue
        kind_rows = pl.concat(of_kind, how="diagonal_relaxed")
        kind_records = merge_publications(kind_rows)
        merged[kind.name] = kind_rows.height - kind_records.height
        records.append(kind_records)
    if not records:
        empty = pl.DataFrame(schema={"journal": pl.String, "len": pl.Int64})
        return _Records(numbers, pl.DataFrame(schema=_node_schema()), merged, empty, empty)
    all_rows = pl.concat(rows, how="diagonal_relaxed")
    all_records = publication_node_ids(pl.concat(records, how="diagonal_relaxed"))
    is_mentioned = pl.col(PUB_KEY).is_in(mentioned_numbers.implode())
    mentioned = all_records.filter(is_mentioned)
    return _Records(
        numbers=numbers,
        mentioned=mentioned.select(_NODE_COLUMNS),
        merged=merged,
        spellings=pl.concat(
            [_counts(journal_spellings(all_rows), -1), _counts(journal_spellings(all_records))]
        ),
        mentioned_spellings=pl.concat(
            [
                _counts(journal_spellings(all_rows.filter(is_mentioned)), -1),
                _counts(journal_spellings(mentioned)),
            ]
        ),
    )


def _node_schema() -> dict[str, Any]:
    return {
        PUB_KEY: pl.UInt32,
        "id": pl.String,
        "type": pl.String,
        "source_id": pl.String,
        "title": pl.String,
        "date": pl.Date,
        "journal": pl.String,
    }


class _Graph:
    """The graph's tables, bucket by bucket, in the order of graph.json; counts what it gives."""

    def __init__(
        self, scan: _Scan, records: _Records, names: pl.DataFrame, drug_table: pl.DataFrame
    ) -> None:
        self.scan = scan
        self.records = records
        self.names = names
        self.drug_table = drug_table
        self.drugs = drug_node_rows(drug_table)
        mentioned = summed_spellings([*scan.mentioned_spellings, records.mentioned_spellings])
        journal_names = mentioned.join(names, on="journal").get_column("journal_name")
        self.journals = journal_node_rows(journal_names)
        self.publications = 0
        self.publication_edges = 0
        self.journal_edges = 0
        self.sources: set[str] = set()

    def nodes(self) -> Iterator[pl.DataFrame]:
        """Nodes by id: the order of their id prefixes, as :func:`render_graph` writes them."""
        yield from self._publications(CLINICAL_TRIALS)
        yield self.drugs
        yield self.journals
        yield from self._publications(PUBMED)

    def _publications(self, kind: SourceKind) -> Iterator[pl.DataFrame]:
        buckets = self.scan.nodes[kind.name]
        node_type = publication_node_ids(
            pl.DataFrame({"kind": [kind.name], "source_id": ["x"], "title": ["x"]}).with_columns(
                pl.lit(None, dtype=pl.Date).alias("date")
            )
        ).get_column("type")[0]
        own = self.records.mentioned.filter(pl.col("type") == node_type)
        if buckets.count == 0 and own.is_empty():
            return
        own_bucket = buckets.of(own.get_column("id"))
        replaced = self.records.numbers.implode()
        for bucket in range(max(buckets.count, 1)):
            frame = buckets.read(bucket)
            frame = pl.concat(
                [frame.filter(~pl.col(PUB_KEY).is_in(replaced)), own.filter(own_bucket == bucket)]
            )
            frame = frame.join(self.names, on="journal", how="left")
            table = publication_node_rows(_with_missing(frame))
            self.publications += table.height
            yield table

    def edges(self) -> Iterator[Chunk]:
        """Edges by source, target, key: drug range after drug range."""
        first = self.records.mentioned.select(
            PUB_KEY, pl.col("id").alias("_id"), pl.col("journal").alias("_journal")
        )
        replaced = self.records.numbers.implode()
        for bucket in range(self.scan.edges.count):
            frame = self.scan.edges.read(bucket)
            again = frame.get_column(PUB_KEY).is_in(replaced)
            if again.any():
                # rows of merged records: the record's first row keeps its mentions, with the
                # record's id and journal; the other rows' mentions are not the record's
                records = (
                    frame.filter(again)
                    .join(first, on=PUB_KEY)
                    .with_columns(pl.col("_id").alias("id"), pl.col("_journal").alias("journal"))
                    .select(frame.columns)
                )
                frame = pl.concat([frame.filter(~again), records])
            frame = frame.join(self.names, on="journal", how="left")
            tables = graph_from_mentioned(self.drug_table, _with_missing(frame))
            edges = tables.edges
            to_journals = int(edges.get_column("target").str.starts_with("journal:").sum())
            self.journal_edges += to_journals
            self.publication_edges += edges.height - to_journals
            self.sources.update(edges.get_column("source").unique().to_list())
            yield tables.coded_edges if tables.coded_edges is not None else edges

    def summary(self) -> dict[str, object]:
        """The run report's ``graph`` (what ``jobs._graph_summary`` says of a graph)."""
        ids = self.drugs.get_column("id").to_list()
        names = self.drugs.get_column("name").to_list()
        return {
            "drugs": self.drugs.height,
            "publications": self.publications,
            "journals": self.journals.height,
            "drug_publication_edges": self.publication_edges,
            "drug_journal_edges": self.journal_edges,
            "drugs_without_mentions": sorted(
                n for i, n in zip(ids, names, strict=True) if i not in self.sources
            ),
        }


def _accounts(scan: _Scan, records: _Records) -> dict[str, SourceAccount]:
    accounts = {}
    for kind in PUBLICATION_KINDS:
        parts = [p for p in scan.parts if p.kind is kind]
        read = sum(p.raw_rows for p in parts)
        kept = sum(p.kept for p in parts)
        merged = records.merged.get(kind.name, 0)
        accounts[kind.name] = SourceAccount(
            read=read,
            published=kept - merged,
            merged=merged,
            rejected=read - kept,
            rejected_by_reason=scan.reasons[kind.name],
        )
    return accounts


def process_lake(
    lake: Lake,
    output_dir: Path,
    config: ProcessConfig | None = None,
    *,
    timer: StepTimer | None = None,
    matcher: Matcher = find_mentions,
    repairs: list[Repair] | None = None,
    changes: incremental.Changes | None = None,
    rows_per_bucket: int = ROWS_PER_BUCKET,
    spill_dir: Path | None = None,
) -> RunReport:
    """The process job, part by part: the outputs of :func:`datapipeline.jobs.process`.

    ``spill_dir``: where the temporary files go (default: the system's temporary folder);
    ``rows_per_bucket``: the size of the last step's buckets (tests make it small).
    """
    config = config or ProcessConfig()
    timer = timer or StepTimer()
    with timer.step("read lake"):
        raw_drugs = lake.read_frame(config.tables["drugs"])
        tables: dict[str, str] = {str(k): v for k, v in config.tables.items()}
        kinds = [(k, lake.require_parts(tables[k.name])) for k in PUBLICATION_KINDS]
    drugs, drugs_account, drugs_rejected = prepare_drugs(raw_drugs)
    drug_table = drug_nodes(drugs)
    patterns = drug_table.select(pl.col("id").alias("drug_id"), "pattern")
    paths = OutputPaths.of(output_dir, config)
    with tempfile.TemporaryDirectory(prefix="datapipeline-stream-", dir=spill_dir) as temp:
        scan = _Scan(lake, Path(temp), patterns, matcher, rows_per_bucket)
        with timer.step("clean and match"):
            scan.run(kinds, timer.progress)
        with timer.step("merge duplicates"):
            records = _merge_repeated(lake, scan.parts)
            names = journal_display_names(summed_spellings([*scan.spellings, records.spellings]))
        with timer.step("write graph"):
            graph = _Graph(scan, records, names, drug_table)
            save_graph_files(paths.graph, graph.nodes(), graph.edges(), lake=lake)
            rejected = pl.concat([drugs_rejected, *scan.rejected], how="diagonal_relaxed").sort(
                "table", SOURCE_FILE, SOURCE_ROW
            )
            write_rejected(rejected, paths.rejected)
            report = RunReport(
                accounts={DRUGS.name: drugs_account, **_accounts(scan, records)},
                graph=graph.summary(),
                outputs=paths.to_dict(),
                repairs=list(repairs or []),
            )
            write_report(report, paths.report)
    if changes is not None:
        for part in scan.parts:
            table = tables[part.kind.name]
            changes.matched_titles[f"{table}/{Path(part.path).name[: -len(PARQUET_SUFFIX)]}"] = (
                part.kept
            )
    report.seconds = timer.seconds
    return report


def run_stream(
    data_dir: Path | None,
    lake_dir: str,
    output_dir: Path,
    progress: Progress = lambda *_, **__: None,
    *,
    full_refresh: bool = False,
    rows_per_bucket: int = ROWS_PER_BUCKET,
) -> RunReport:
    """The main job with the streaming process: import the files that changed straight into
    the lake (one file at a time per thread), then :func:`process_lake`."""
    timer = StepTimer(progress=progress)
    sources = jobs.discover_sources(data_dir or jobs.SAMPLE_DATA_DIR)
    lake = Lake(lake_dir)
    changes = incremental.Changes(full_refresh=full_refresh)
    with timer.step("import"), collect_repairs() as repairs:
        state = incremental.State(lake) if full_refresh else incremental.State.load(lake)
        incremental.import_changed(
            sources, lake, state, changes, jobs.read_source, None, progress=progress
        )
    report = process_lake(
        lake,
        output_dir,
        timer=timer,
        repairs=repairs,
        changes=changes,
        rows_per_bucket=rows_per_bucket,
    )
    state.save()
    report.changes = changes
    return report
