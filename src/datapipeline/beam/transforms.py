"""The main job as Beam ``DoFn``\\ s and ``PTransform``\\ s over Polars batches.

Each step is the recipe's (:mod:`datapipeline.mentions.recipe`), applied to a batch of rows
inside a DoFn; what Beam adds is where rows meet:

* the drugs (a small list) are prepared once and reach every worker as a side input;
* each file is read twice. The first pass cleans its batches and shuffles only two hashes of
  each kept row, of its merge key (kind, title's lower case, date) and of its id (kind, source
  id), to find those that occur more than once. The second cleans the batches again (the same
  rows) and matches their titles where they are (each kept row carries its mentions, drug
  ids, from then on); a row whose hashes no other row has is a record of its own, merged and
  given its node id on the spot: only the others are shuffled. Reading twice costs less than
  keeping every cleaned row between the passes;
* a ``GroupByKey`` on the merge key hash brings every candidate row of a merge group to one
  shard, where the merge step sees the whole group (it orders rows by file and row itself);
* a second one, on a hash of (kind, source id), brings every record of an id group together
  for the node-id step; a record without an id needs nobody;
* journal names come from spelling counts summed over every shard (a ``CombineFn``);
* the mentioned records are cut into ranges of node ids and of drug ids (cut points from a
  sample of the mentions taken as titles are matched: the cuts only balance the ranges, any
  cuts give the same graph), and each range is assembled and written as JSON lines by
  whichever worker holds it, journal names joined there; the last step puts the ranges end
  to end into graph.json, reading them as a stream.

No step holds more than one range (and the drug list); the driver holds nothing but the
pipeline. Elements are Polars frames, carried as Arrow IPC (:mod:`datapipeline.beam.coders`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import polars as pl
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from datapipeline.beam.coders import FrameCoder
from datapipeline.config import Source
from datapipeline.engines.ranges import boundaries, bucket_of
from datapipeline.extract import get_reader
from datapipeline.extract.canonical import to_canonical
from datapipeline.kernels.node_link import encode_rows
from datapipeline.mentions import recipe
from datapipeline.mentions.cleaning import title_merge_keys
from datapipeline.mentions.matching import find_mentions, words_and_merge_keys
from datapipeline.mentions.nodes import (
    drug_node_rows,
    journal_display_names,
    journal_node_rows,
    journal_spellings,
    publication_node_rows,
    publication_node_type,
    shared_source_ids,
    summed_spellings,
)
from datapipeline.mentions.recipe import PreparedDrugs, SourceAccount, add_accounts
from datapipeline.repairs import collect as collect_repairs
from datapipeline.run.report import GraphSummary
from datapipeline.run.sources import reader_options
from datapipeline.schema import KINDS, SOURCE_FILE, SOURCE_ROW

#: Default rows per batch handed from the readers to the next DoFns: enough for the matcher to
#: cut a batch's titles into slices on its threads (a worker's DoFn calls run one at a time).
BATCH_ROWS = 200_000
#: Default number of shards of the key, merge and id shuffles. They carry key hashes and the
#: few rows whose key repeats; each shard is one element of each of them, so shards beyond
#: the workers that can take them cost time for nothing (benchmarks/README.md). Raise it
#: with the workers (``--shards``).
SHARDS = 4
#: Default mentioned rows per range of the graph (what one worker assembles at once).
ROWS_PER_RANGE = 500_000
#: One mentioned row in this many is sampled to cut the ranges.
SAMPLE_EVERY = 64
#: The drug ids a kept row mentions (a list; null when none), carried from matching on.
MENTIONS = "_mentions"
#: Node ids cut the node ranges here too, so that drug and journal nodes are ranges of their
#: own: node ids sort clinical trials, drugs, journals, PubMed articles.
TYPE_CUTS = ("drug:", "journal:", "pubmed:")


def empty_raw(kind: str) -> pl.DataFrame:
    """A frame with the canonical columns of ``kind`` and provenance, no rows."""
    schema: dict[str, Any] = dict.fromkeys(KINDS[kind].columns, pl.String)
    return pl.DataFrame(schema={**schema, SOURCE_FILE: pl.String, SOURCE_ROW: pl.Int64})


def concat(frames: Iterable[pl.DataFrame]) -> pl.DataFrame | None:
    """The frames end to end (columns matched by name), or None when there are none."""
    frames = [f for f in frames if f.width]
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


@contextmanager
def local_copy(url: str) -> Iterator[str]:
    """A local path for ``url``: itself when local, else a temporary copy (gs://… on workers).

    The readers read local files; a worker copies a remote file to its disk first.
    """
    if "://" not in url or url.startswith("file://"):
        yield url.removeprefix("file://")
        return
    from apache_beam.io.filesystems import FileSystems

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, url.rsplit("/", 1)[-1])
        with (
            FileSystems.open(url, compression_type="uncompressed") as remote,
            open(path, "wb") as local,
        ):
            shutil.copyfileobj(remote, local, 1 << 20)
        yield path


class WorkAheadFn(beam.DoFn):
    """A DoFn whose work on an element runs on a thread of its own while the next element
    comes: the outputs of an element are yielded once the element after it is handed over
    (the steps fused after this one then work on them while it is worked on), those of the
    last when the bundle ends. The work gains where it releases the GIL (the readers, Polars).
    At most two elements are in hand; subclasses define :meth:`outputs`, and ``process``
    (whose signature names the side inputs) as ``yield from self.hand_over(element, *side)``."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future[list[Any]]] = deque()

    def outputs(self, element: Any, *side: Any) -> Iterator[Any]:
        """The outputs of ``element`` (main values and :class:`TaggedOutput`\\ s)."""
        raise NotImplementedError

    def work(self, element: Any, *side: Any) -> list[Any]:
        """:meth:`outputs`, all of them (on the thread)."""
        return list(self.outputs(element, *side))

    def start_bundle(self) -> None:
        self._pool = ThreadPoolExecutor(2, thread_name_prefix=type(self).__name__)
        self._pending = deque()

    def hand_over(self, element: Any, *side: Any) -> Iterator[Any]:
        """What :meth:`process` yields: ``element`` handed to :meth:`work`, the outputs of the
        element before it."""
        assert self._pool is not None
        self._pending.append(self._pool.submit(self.work, element, *side))
        while len(self._pending) > 1:
            yield from self._pending.popleft().result()

    def finish_bundle(self) -> Iterator[Any]:
        try:
            while self._pending:
                for output in self._pending.popleft().result():
                    if isinstance(output, beam.pvalue.TaggedOutput):
                        yield beam.pvalue.TaggedOutput(output.tag, _in_global_window(output.value))
                    else:
                        yield _in_global_window(output)
        finally:
            self._stop()

    def teardown(self) -> None:
        self._stop()  # after a failed bundle

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()


class ReadSourceFn(WorkAheadFn):
    """One source file → (kind, batch of canonical rows), through the registered reader.

    Batches hold at most ``batch_rows`` rows so that later steps spread over workers. The next
    file is read while the steps fused after this one work on the file before
    (:class:`WorkAheadFn`).
    """

    #: side output: (file, repair id) for each repair a reader made (see datapipeline.repairs)
    REPAIRS = "repairs"

    def __init__(self, batch_rows: int = BATCH_ROWS) -> None:
        super().__init__()
        self.batch_rows = batch_rows

    def process(self, source: Source) -> Iterator[Any]:
        yield from self.hand_over(source)

    def outputs(self, element: Any, *side: Any) -> Iterator[Any]:
        """The batches of the source ``element``, then its repairs (tagged)."""
        source: Source = element
        kind = KINDS[source.source_kind]
        reader = get_reader(source.source_type)
        with local_copy(source.source) as path, collect_repairs() as noted:
            for batch in reader(path, **reader_options(source)):
                table = to_canonical(pa.Table.from_batches([batch]), kind, source.source)
                frame: pl.DataFrame = pl.from_arrow(table)  # type: ignore[assignment]
                if path != source.source:  # provenance names the file, not its local copy
                    frame = frame.with_columns(pl.lit(source.source).alias(SOURCE_FILE))
                for offset in range(0, frame.height, self.batch_rows):
                    yield kind.name, frame.slice(offset, self.batch_rows)
        for repair in noted:  # named after the source, not its local copy
            yield beam.pvalue.TaggedOutput(self.REPAIRS, (source.source, repair.repair))


def _in_global_window(value: Any) -> WindowedValue:
    """``value`` as an output of ``finish_bundle`` (which names its window)."""
    return WindowedValue(value, MIN_TIMESTAMP, (GlobalWindow(),))


def shard_of(key: list[pl.Expr], shards: int) -> pl.Expr:
    """The shard (0 … ``shards`` - 1) of each row, by a hash of ``key``.

    Polars' hash is stable for one Polars version, which every worker of a job shares.
    """
    return (pl.struct(key).hash() % shards).cast(pl.Int64).alias("_shard")


def by_shard(frame: pl.DataFrame, shard: pl.Expr) -> Iterator[tuple[int, pl.DataFrame]]:
    """``frame`` split into (shard, rows) pairs."""
    if frame.is_empty():
        return
    parts = frame.with_columns(shard.alias("_shard")).partition_by(
        "_shard", as_dict=True, include_key=False
    )
    for (index,), part in parts.items():
        yield int(index), part


def with_mentions(kept: pl.DataFrame, words: pl.Series, patterns: pl.DataFrame) -> pl.DataFrame:
    """``kept`` with :data:`MENTIONS`: the drug ids each row's title mentions (the match step)."""
    titles = kept.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("pub_id"), "title")
    pairs = find_mentions(titles, patterns, words)
    lists = pairs.group_by("pub_id").agg(pl.col("drug_id").sort().alias(MENTIONS))
    mentions = (
        titles.select("pub_id")
        .join(lists, on="pub_id", how="left", maintain_order="left")
        .get_column(MENTIONS)
    )
    return kept.with_columns(mentions)


#: A kept row's merge key and id, hashed: ``_key`` (kind, title merge key, date), ``_id_key``
#: (kind, source id; null without an id). Rows whose hashes no other row has are records of
#: their own, named by their own id: only the others go through the shuffles.
KEY = "_key"
ID_KEY = "_id_key"
#: Which hash a value of the key shuffle is: of merge keys, or of ids.
MERGE_KEYS, ID_KEYS = 0, 1


def id_hash(frame: pl.DataFrame) -> pl.Series:
    """The id hash of each row (null without an id): equal for the rows of an id group."""
    return frame.select(
        pl.when(pl.col("source_id").is_not_null())
        .then(pl.struct("kind", "source_id").hash())
        .alias(ID_KEY)
    ).to_series()


def with_key_hashes(kept: pl.DataFrame, merge_keys: pl.Series) -> pl.DataFrame:
    """``kept`` with :data:`KEY` and :data:`ID_KEY` (``merge_keys``: the titles')."""
    return kept.with_columns(
        # the merge key's candidate form is a function of the lower case: equal in a group
        pl.struct(pl.col("kind"), pl.lit(merge_keys.alias("merge_key")), pl.col("date"))
        .hash()
        .alias(KEY),
        id_hash(kept),
    )


class KeysFn(WorkAheadFn):
    """The first pass over a raw publication batch: the clean step → its rejected rows and
    account (side outputs), and the key hashes of its kept rows, by shard (main output): what
    the second pass needs to tell the rows that are records of their own. A batch is worked on
    while the next one comes (:class:`WorkAheadFn`)."""

    REJECTED = "rejected"
    ACCOUNTS = "accounts"

    def __init__(self, shards: int) -> None:
        super().__init__()
        self.shards = shards

    def process(self, element: tuple[str, pl.DataFrame]) -> Iterator[Any]:
        yield from self.hand_over(element)

    def outputs(self, element: tuple[str, pl.DataFrame]) -> Iterator[Any]:
        """The outputs of one batch."""
        kind, raw = element
        clean = recipe.clean(raw, KINDS[kind])
        yield beam.pvalue.TaggedOutput(self.ACCOUNTS, {kind: clean.account})
        if not clean.rejected.is_empty():
            yield beam.pvalue.TaggedOutput(self.REJECTED, clean.rejected)
        kept = with_key_hashes(clean.kept, title_merge_keys(clean.kept.get_column("title")))
        keys = pl.concat(
            [
                kept.select(pl.lit(MERGE_KEYS, pl.UInt8).alias("of"), pl.col(KEY).alias("value")),
                kept.select(
                    pl.lit(ID_KEYS, pl.UInt8).alias("of"), pl.col(ID_KEY).alias("value")
                ).drop_nulls(),
            ]
        )
        yield from by_shard(keys, (pl.col("value") % self.shards).cast(pl.Int64))


def mention_sample(kept: pl.DataFrame) -> pl.DataFrame:
    """One mention in :data:`SAMPLE_EVERY` of kept rows (``id``, ``drug_id``): to cut the
    graph's ranges. The id is the one a record with an id of its own gets (``<type>:<id>``;
    ``<type>:~`` without an id, where content-hash ids sort): records that merge or share an
    id get others, which only moves rows between neighbouring ranges."""
    node_type = publication_node_type(pl.col("kind"))
    return (
        kept.filter(pl.col(MENTIONS).is_not_null())
        .select(
            pl.concat_str(node_type, pl.lit(":"), pl.col("source_id").fill_null("~")).alias("id"),
            pl.col(MENTIONS).alias("drug_id"),
        )
        .explode("drug_id")
        .gather_every(SAMPLE_EVERY)
    )


def repeated_keys(element: tuple[int, Iterable[pl.DataFrame]]) -> Iterator[pl.DataFrame]:
    """The hashes of one shard that occur more than once (``of``, ``value``)."""
    keys = concat(element[1])
    if keys is not None:
        twice = keys.filter(pl.struct("of", "value").is_duplicated()).unique()
        if not twice.is_empty():
            yield twice


def candidates(kept: pl.DataFrame, repeated: pl.DataFrame | None) -> pl.Series:
    """Whether each kept row shares its merge key hash or its id hash with another row (a
    superset of the rows that merge or share an id: a collision is let through)."""
    if repeated is None:
        return pl.repeat(False, kept.height, dtype=pl.Boolean, eager=True)
    merge = repeated.filter(pl.col("of") == MERGE_KEYS).get_column("value")
    ids = repeated.filter(pl.col("of") == ID_KEYS).get_column("value")
    return kept.select(
        pl.col(KEY).is_in(merge.implode()) | pl.col(ID_KEY).is_in(ids.implode()).fill_null(False)
    ).to_series()


#: Node columns of a record, as the node-id and assemble steps take them.
NODE_COLUMNS = ["kind", "source_id", "title", "date", "journal", MENTIONS]


class _Records:
    """Side outputs shared by the steps that make records: their accounts, journal spelling
    counts, and the node rows of the mentioned ones."""

    NODES = "nodes"
    SPELLINGS = "spellings"
    ACCOUNTS = "accounts"

    @staticmethod
    def told(kind: str, records: pl.DataFrame, account: SourceAccount) -> Iterator[Any]:
        yield beam.pvalue.TaggedOutput(_Records.ACCOUNTS, {kind: account})
        yield beam.pvalue.TaggedOutput(_Records.SPELLINGS, journal_spellings(records))

    @staticmethod
    def nodes(records: pl.DataFrame, shared: pl.Series) -> Iterator[Any]:
        mentioned = records.get_column(MENTIONS).is_not_null()
        if mentioned.any():
            nodes = recipe.node_ids(records.select(NODE_COLUMNS), mentioned, shared)
            yield beam.pvalue.TaggedOutput(_Records.NODES, nodes)


class MatchAndSplitFn(WorkAheadFn, _Records):
    """The second pass over a raw publication batch: the clean step again (the first pass's
    kept rows, in the same order), the match step, then the split: the candidates go on by
    merge shard (main output); the rows that are records of their own go through the merge
    and node-id steps on the spot (a group of one merges into itself; an id no other row has
    is nobody else's). Side outputs: their node rows, spelling counts and accounts, and a
    sample of the batch's mentions (:func:`mention_sample`).

    Reading and cleaning the batch twice costs less than keeping every cleaned row until the
    key hashes are known (a stored collection: every row encoded, copied and decoded). A batch
    is worked on while the next one comes (:class:`WorkAheadFn`)."""

    SAMPLE = "sample"

    def __init__(self, shards: int) -> None:
        super().__init__()
        self.shards = shards

    def process(
        self,
        element: tuple[str, pl.DataFrame],
        drugs: PreparedDrugs,
        repeated: pl.DataFrame | None,
    ) -> Iterator[Any]:
        yield from self.hand_over(element, drugs, repeated)

    def outputs(
        self,
        element: tuple[str, pl.DataFrame],
        drugs: PreparedDrugs,
        repeated: pl.DataFrame | None,
    ) -> Iterator[Any]:
        """The outputs of one batch."""
        kind, raw = element
        kept = recipe.clean(raw, KINDS[kind]).kept
        words, merge_keys = words_and_merge_keys(kept.get_column("title"))
        kept = with_key_hashes(with_mentions(kept, words, drugs.patterns), merge_keys)
        sample = mention_sample(kept)
        if not sample.is_empty():
            yield beam.pvalue.TaggedOutput(self.SAMPLE, sample)
        candidate = candidates(kept, repeated)
        alone = ~candidate
        records, account = recipe.merge(
            kept.filter(alone).drop(KEY, ID_KEY), merge_keys.filter(alone), first_of=[MENTIONS]
        )
        yield from self.told(kind, records, account)
        yield from self.nodes(records, records.get_column("source_id").is_null())
        shard = shard_of([pl.col(KEY)], self.shards)
        for index, part in by_shard(kept.filter(candidate), shard):
            yield index, part.drop(KEY, ID_KEY)


class MergeFn(beam.DoFn, _Records):
    """The candidates of one merge shard → records (the merge step), per kind: the records
    whose id another record may have, by id shard (main output); the node rows of the
    others, spelling counts and accounts on side outputs."""

    def __init__(self, shards: int) -> None:
        self.shards = shards

    def process(
        self, element: tuple[int, Iterable[pl.DataFrame]], repeated: pl.DataFrame | None
    ) -> Iterator[Any]:
        rows = concat(element[1])
        if rows is None:
            return
        ids = pl.Series([], dtype=pl.UInt64)
        if repeated is not None:
            ids = repeated.filter(pl.col("of") == ID_KEYS).get_column("value")
        for (kind,), of_kind in rows.partition_by("kind", as_dict=True).items():
            records, account = recipe.merge(of_kind, first_of=[MENTIONS])
            yield from self.told(str(kind), records, account)
            # a merged record takes its id from one of its rows: its group's hash decides
            hashed = id_hash(records)
            grouped = hashed.is_in(ids.implode()).fill_null(False)
            alone = records.filter(~grouped)
            yield from self.nodes(alone, alone.get_column("source_id").is_null())
            # of the others, only the mentioned need more than their (kind, id)
            with_id = (
                records.filter(grouped)
                .select(NODE_COLUMNS)
                .with_columns(
                    pl.when(pl.col(MENTIONS).is_not_null()).then(pl.col(c)).alias(c)
                    for c in ("title", "date", "journal")
                )
            )
            id_shard = shard_of([pl.col("kind"), pl.col("source_id")], self.shards)
            yield from by_shard(with_id, id_shard)


def id_group_nodes(element: tuple[int, Iterable[pl.DataFrame]]) -> Iterator[pl.DataFrame]:
    """The records of one id shard → node rows of the mentioned ones (the node-id step)."""
    records = concat(element[1])
    if records is None:
        return
    shared = shared_source_ids(records)
    nodes = recipe.node_ids(records, records.get_column(MENTIONS).is_not_null(), shared)
    if not nodes.is_empty():
        yield nodes


class SpellingCountsFn(beam.CombineFn):
    """Journal spelling counts summed over shards (they add up)."""

    def create_accumulator(self) -> list[pl.DataFrame]:
        return []

    def add_input(self, acc: list[pl.DataFrame], counts: pl.DataFrame) -> list[pl.DataFrame]:
        return [summed_spellings([*acc, counts])]

    def merge_accumulators(self, accs: Iterable[list[pl.DataFrame]]) -> list[pl.DataFrame]:
        return [summed_spellings([c for acc in accs for c in acc])]

    def extract_output(self, acc: list[pl.DataFrame]) -> pl.DataFrame:
        return summed_spellings(acc)


class AccountsFn(beam.CombineFn):
    """Accounts per source table, summed (they add up)."""

    def create_accumulator(self) -> dict[str, SourceAccount]:
        return {}

    def add_input(
        self, acc: dict[str, SourceAccount], share: Mapping[str, SourceAccount]
    ) -> dict[str, SourceAccount]:
        return add_accounts(acc, share)

    def merge_accumulators(
        self, accs: Iterable[dict[str, SourceAccount]]
    ) -> dict[str, SourceAccount]:
        return add_accounts(*accs)

    def extract_output(self, acc: dict[str, SourceAccount]) -> dict[str, SourceAccount]:
        return acc


class ConcatFn(beam.CombineFn):
    """Gather frames into one (None when there are none)."""

    def create_accumulator(self) -> list[pl.DataFrame]:
        return []

    def add_input(self, acc: list[pl.DataFrame], frame: pl.DataFrame) -> list[pl.DataFrame]:
        acc.append(frame)
        return acc

    def merge_accumulators(self, accs: Iterable[list[pl.DataFrame]]) -> list[pl.DataFrame]:
        joined = concat(f for acc in accs for f in acc)
        return [joined] if joined is not None else []

    def extract_output(self, acc: list[pl.DataFrame]) -> pl.DataFrame | None:
        return concat(acc)


class PreparedDrugsFn(ConcatFn):
    """Every drug row → the drugs, prepared (:func:`recipe.prepare_drugs`)."""

    def extract_output(self, acc: list[pl.DataFrame]) -> PreparedDrugs:  # type: ignore[override]
        raw = concat(acc)
        return recipe.prepare_drugs(raw if raw is not None else empty_raw("drugs"))


class JournalNamesFn(SpellingCountsFn):
    """Spelling counts of every record → the display name of each spelling (None when no
    record has a journal: Beam compares a side input's default value with ``!=``, which a
    frame does column by column)."""

    def extract_output(self, acc: list[pl.DataFrame]) -> pl.DataFrame | None:  # type: ignore[override]
        names = journal_display_names(summed_spellings(acc))
        return names if not names.is_empty() else None


class RangesFn(ConcatFn):
    """The samples of every batch → the cut points of the graph's ranges (:class:`Ranges`)."""

    def __init__(self, rows_per_range: int) -> None:
        self.rows_per_range = rows_per_range

    def extract_output(self, acc: list[pl.DataFrame]) -> Ranges:  # type: ignore[override]
        return Ranges.from_sample(concat(acc), self.rows_per_range)


@dataclass(frozen=True)
class Ranges:
    """Cut points of the graph's ranges: node ranges by publication id (also cut at each
    node type), edge ranges by drug id."""

    nodes: pl.Series
    edges: pl.Series

    @classmethod
    def from_sample(cls, sample: pl.DataFrame | None, rows_per_range: int) -> Ranges:
        """Ranges of about ``rows_per_range`` mentioned rows, from one row in
        :data:`SAMPLE_EVERY` (``id``, ``drug_id``)."""
        if sample is None:
            sample = pl.DataFrame(schema={"id": pl.String, "drug_id": pl.String})
        count = max(1, -(-sample.height * SAMPLE_EVERY // rows_per_range))
        ids = pl.concat([boundaries(sample.get_column("id"), count), pl.Series("id", TYPE_CUTS)])
        return cls(ids.unique().sort(), boundaries(sample.get_column("drug_id"), count))

    def node_range(self, node_id: str) -> int:
        """The range of the node ``node_id`` (drug and journal nodes: one range each)."""
        return int(bucket_of(self.nodes, pl.Series([node_id]))[0])


def by_range(
    records: pl.DataFrame, ranges: Ranges
) -> Iterator[tuple[tuple[str, int], pl.DataFrame]]:
    """Node rows of mentioned records → ((``"nodes"`` or ``"edges"``, range), rows of that
    range): a node range gets its records' node columns, an edge range one row per mention
    with what an edge needs (``id``, ``date``, ``journal``, ``drug_id``)."""
    nodes = records.select("id", "type", "source_id", "title", "date", "journal")
    edges = records.select("id", "date", "journal", pl.col(MENTIONS).alias("drug_id")).explode(
        "drug_id"
    )
    for section, frame, column, cuts in (
        ("nodes", nodes, "id", ranges.nodes),
        ("edges", edges, "drug_id", ranges.edges),
    ):
        keyed = frame.with_columns(bucket_of(cuts, frame.get_column(column)).alias("_range"))
        for (index,), part in keyed.partition_by("_range", as_dict=True, include_key=False).items():
            yield (section, int(index)), part


@dataclass(frozen=True)
class WrittenRange:
    """One range of graph.json, written apart: where, and what it holds."""

    section: str
    index: int
    path: str
    summary: GraphSummary


def write_lines(path: str, chunks: Iterable[pl.DataFrame | Any]) -> None:
    """The rows of ``chunks`` as JSON lines (each followed by ``,\\n``) into ``path``, and
    as a frame into :func:`rows_path` of it (the graph's tables are written from those)."""
    from apache_beam.io.filesystems import FileSystems

    chunks = list(chunks)

    def write_rows() -> None:
        frames = [c if isinstance(c, pl.DataFrame) else c.frame() for c in chunks]
        with FileSystems.create(rows_path(path)) as handle:
            handle.write(FrameCoder().encode(pl.concat(frames, how="diagonal_relaxed")))

    # the rows are written on a thread while the lines are encoded (both release the GIL)
    with ThreadPoolExecutor(1, thread_name_prefix="range-rows") as pool:
        writing = pool.submit(write_rows)
        with FileSystems.create(path) as handle:
            for chunk in chunks:
                for piece in encode_rows(chunk):
                    handle.write(piece)
        writing.result()


def rows_path(path: str) -> str:
    """Where the rows of a range written at ``path`` are kept (Arrow IPC)."""
    return f"{path}.arrow"


class WriteRangeFn(beam.DoFn):
    """One range's rows → its part of graph.json (the assemble step, journal names joined
    first), written into ``parts_dir``; yields a :class:`WrittenRange`, and for a node range
    the journal names its records have (side output)."""

    #: side output: the journal names of a node range's records, each once
    JOURNALS = "journals"

    def __init__(self, parts_dir: str) -> None:
        self.parts_dir = parts_dir

    def process(
        self,
        element: tuple[tuple[str, int], Iterable[pl.DataFrame]],
        drugs: PreparedDrugs,
        names: pl.DataFrame | None,
    ) -> Iterator[Any]:
        (section, index), frames = element
        rows = concat(frames)
        if rows is None:
            return
        if names is None:
            rows = rows.with_columns(pl.lit(None, pl.String).alias("journal_name"))
        else:
            rows = rows.join(names, on="journal", how="left")
        rows = rows.drop("journal")
        path = f"{self.parts_dir}/{section}-{index:06d}"
        if section == "nodes":
            nodes = publication_node_rows(rows)
            write_lines(path, [nodes])
            yield WrittenRange(section, index, path, GraphSummary(publications=nodes.height))
            journals = rows.select("journal_name").drop_nulls().unique()
            if not journals.is_empty():
                yield beam.pvalue.TaggedOutput(self.JOURNALS, journals)
        else:
            tables = recipe.assemble(drugs.nodes, rows, nodes=False)
            write_lines(path, [tables.edges])
            yield WrittenRange(section, index, path, GraphSummary.of_tables(tables, nodes=False))


def fixed_ranges(
    drugs: PreparedDrugs, journal_names: pl.DataFrame | None, ranges: Ranges, parts_dir: str
) -> list[WrittenRange]:
    """The drug nodes and the journal nodes (of journals with a mention), each a range of
    its own, written into ``parts_dir``."""
    drug_rows = drug_node_rows(drugs.nodes)
    names = pl.Series("journal_name", [], pl.String)
    if journal_names is not None:
        names = journal_names.get_column("journal_name")
    journal_rows = journal_node_rows(names)
    written = []
    for first, rows, summary in (
        ("drug:", drug_rows, GraphSummary(drugs=drug_rows.height)),
        ("journal:", journal_rows, GraphSummary(journals=journal_rows.height)),
    ):
        index = ranges.node_range(first)
        path = f"{parts_dir}/nodes-{index:06d}"
        write_lines(path, [rows])
        written.append(WrittenRange("nodes", index, path, summary))
    return written
