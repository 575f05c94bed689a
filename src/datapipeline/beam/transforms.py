"""The main job as Beam ``DoFn``s and ``PTransform``s over Polars batches.

Every rule is the default engine's function, applied to a batch of rows inside a DoFn: readers
(:mod:`datapipeline.extract`), :func:`clean_publications`, :func:`merge_publications`,
:func:`publication_node_ids`, :func:`find_mentions`, :func:`graph_from_mentions` and
:func:`prepare_drugs`. What Beam adds is where rows meet:

* duplicates are merged per shard of the merge key (kind, lower-case title, date): a
  ``GroupByKey`` on a hash of that key brings every row of a merge group to one shard, where
  :func:`merge_publications` sees the whole group (it sorts by source file and row itself, so the
  order rows arrive in does not matter);
* node ids need to know whether an id is shared by two records: a second ``GroupByKey`` on a
  hash of (kind, source id) brings all records of one id together;
* journal display names come from spelling counts summed over every batch (a ``CombineFn``);
* the drugs (small) are prepared once and reach the matching DoFn as a side input;
* the graph is assembled from the mentioned publications and their mentions, gathered once.

Elements are Polars frames (pickled by Beam's default coder: Arrow IPC inside).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import polars as pl
import pyarrow as pa

from datapipeline.config import Source
from datapipeline.extract import get_reader
from datapipeline.extract.canonical import to_canonical
from datapipeline.mentions.cleaning import clean_publications, merge_publications
from datapipeline.mentions.graph import (
    MENTIONED_SCHEMA,
    GraphTables,
    drug_nodes,
    graph_from_mentions,
    journal_display_names,
    journal_spellings,
    match_inputs,
    publication_node_ids,
)
from datapipeline.mentions.matching import find_mentions
from datapipeline.mentions.transform import (
    MentionResult,
    SourceAccount,
    _reasons,
    _rejected_rows,
    prepare_drugs,
)
from datapipeline.repairs import Repair
from datapipeline.repairs import collect as collect_repairs
from datapipeline.schema import KINDS, SOURCE_FILE, SOURCE_ROW

#: Default rows per batch handed from the readers to the next DoFns.
BATCH_ROWS = 50_000
#: Default number of shards of the two ``GroupByKey`` steps.
SHARDS = 16


def empty_raw(kind: str) -> pl.DataFrame:
    """A frame with the canonical columns of ``kind`` and provenance, no rows."""
    schema: dict[str, Any] = dict.fromkeys(KINDS[kind].columns, pl.String)
    return pl.DataFrame(schema={**schema, SOURCE_FILE: pl.String, SOURCE_ROW: pl.Int64})


def concat(frames: Iterable[pl.DataFrame]) -> pl.DataFrame | None:
    """The frames end to end (columns matched by name), or None when there are none."""
    frames = [f for f in frames if f.width]
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


class ReadSourceFn(beam.DoFn):
    """One source file → (kind, batch of canonical rows), through the registered reader.

    Batches hold at most ``batch_rows`` rows so that later steps spread over workers.
    """

    def __init__(self, batch_rows: int = BATCH_ROWS) -> None:
        self.batch_rows = batch_rows

    #: side output: (file, repair id) for each repair a reader made (see datapipeline.repairs)
    REPAIRS = "repairs"

    def process(self, source: Source) -> Iterator[Any]:
        kind = KINDS[source.source_kind]
        reader = get_reader(source.source_type)
        with local_copy(source.source) as path, collect_repairs() as noted:
            for batch in reader(path, **source.options):
                table = to_canonical(pa.Table.from_batches([batch]), kind, source.source)
                frame: pl.DataFrame = pl.from_arrow(table)  # type: ignore[assignment]
                if path != source.source:  # provenance names the file, not its local copy
                    frame = frame.with_columns(pl.lit(source.source).alias(SOURCE_FILE))
                for offset in range(0, frame.height, self.batch_rows):
                    yield kind.name, frame.slice(offset, self.batch_rows)
        for repair in noted:  # named after the source, not its local copy
            yield beam.pvalue.TaggedOutput(self.REPAIRS, (source.source, repair.repair))


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


class CleanPublicationsFn(beam.DoFn):
    """Raw publication batch → kept rows (main output), rejected rows and row counts.

    Counts go to the ``counts`` output as ((kind, what), n): ``read``, ``kept`` and one
    ``rejected:<reason>`` per reason.
    """

    REJECTED = "rejected"
    COUNTS = "counts"

    def process(self, element: tuple[str, pl.DataFrame]) -> Iterator[Any]:
        kind, raw = element
        kept, rejected = clean_publications(raw, kind)
        yield kept
        fields = list(KINDS[kind].columns)
        yield beam.pvalue.TaggedOutput(self.REJECTED, _rejected_rows(raw, rejected, kind, fields))
        yield beam.pvalue.TaggedOutput(self.COUNTS, ((kind, "read"), raw.height))
        yield beam.pvalue.TaggedOutput(self.COUNTS, ((kind, "kept"), kept.height))
        for reason, n in _reasons(rejected).items():
            yield beam.pvalue.TaggedOutput(self.COUNTS, ((kind, f"rejected:{reason}"), n))


class ShardFn(beam.DoFn):
    """Split a batch by a hash of ``key`` (column expressions) into (shard, rows) pairs.

    Polars' hash is stable for one Polars version, which every worker of a job shares.
    """

    def __init__(self, key: list[pl.Expr], shards: int) -> None:
        self.key = key
        self.shards = shards

    def process(self, frame: pl.DataFrame) -> Iterator[tuple[int, pl.DataFrame]]:
        if frame.is_empty():
            return
        shard = (pl.struct(self.key).hash() % self.shards).cast(pl.Int64).alias("_shard")
        for (index,), part in (
            frame.with_columns(shard)
            .partition_by("_shard", as_dict=True, include_key=False)
            .items()
        ):
            yield int(index), part


#: The merge key of :func:`merge_publications`: kind, lower-case title, date.
MERGE_KEY = [pl.col("kind"), pl.col("title").str.to_lowercase(), pl.col("date")]
#: Records that share an id must meet to get their node ids; id-less records need nobody,
#: so they are spread by their merge key instead of piling up on the shard of "null".
ID_KEY = [
    pl.col("kind"),
    pl.col("source_id"),
    pl.when(pl.col("source_id").is_null()).then(pl.col("title").str.to_lowercase()),
    pl.when(pl.col("source_id").is_null()).then(pl.col("date")),
]


class ShardedApply(beam.PTransform):
    """Bring the rows sharing ``key`` to one shard and apply a frame ``function`` per shard."""

    def __init__(self, key: list[pl.Expr], shards: int, function: Any, label: str) -> None:
        super().__init__(label)
        self.key = key
        self.shards = shards
        self.function = function

    def expand(self, frames: beam.PCollection) -> beam.PCollection:
        def apply(element: tuple[int, Iterable[pl.DataFrame]]) -> Iterator[pl.DataFrame]:
            rows = concat(element[1])
            if rows is not None:
                yield self.function(rows)

        return (
            frames
            | "Shard" >> beam.ParDo(ShardFn(self.key, self.shards))
            | "Group" >> beam.GroupByKey()
            | "Apply" >> beam.FlatMap(apply)
        )


class ConcatFn(beam.CombineFn):
    """Gather frames into one (an empty ``template`` when there are none)."""

    def __init__(self, template: pl.DataFrame | None = None) -> None:
        self.template = template

    def create_accumulator(self) -> list[pl.DataFrame]:
        return []

    def add_input(self, acc: list[pl.DataFrame], frame: pl.DataFrame) -> list[pl.DataFrame]:
        acc.append(frame)
        return acc

    def merge_accumulators(self, accs: Iterable[list[pl.DataFrame]]) -> list[pl.DataFrame]:
        joined = concat(f for acc in accs for f in acc)
        return [joined] if joined is not None else []

    def extract_output(self, acc: list[pl.DataFrame]) -> pl.DataFrame | None:
        joined = concat(acc)
        return joined if joined is not None else self.template


class SpellingCountsFn(ConcatFn):
    """Sum :func:`journal_spellings` counts over batches."""

    def merge_accumulators(self, accs: Iterable[list[pl.DataFrame]]) -> list[pl.DataFrame]:
        joined = concat(f for acc in accs for f in acc)
        if joined is None:
            return []
        return [joined.group_by("journal").agg(pl.col("len").sum())]

    def extract_output(self, acc: list[pl.DataFrame]) -> pl.DataFrame:
        (summed,) = self.merge_accumulators([acc]) or [
            pl.DataFrame(schema={"journal": pl.String, "len": pl.UInt32})
        ]
        return summed


class MatchFn(beam.DoFn):
    """Publication nodes → (mentioned publications with journal names, their mentions)."""

    def process(
        self, pubs: pl.DataFrame, drug_node_table: pl.DataFrame, journals: pl.DataFrame
    ) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
        pubs = pubs.join(journals, on="journal", how="left")
        mentions = find_mentions(*match_inputs(drug_node_table, pubs))
        if not mentions.is_empty():
            mentioned = pubs.join(
                mentions.select("pub_id").unique(), left_on="id", right_on="pub_id", how="semi"
            )
            yield mentioned, mentions


@dataclass
class PreparedDrugs:
    """The drugs after :func:`prepare_drugs`: nodes for matching, account, rejected rows."""

    nodes: pl.DataFrame
    account: SourceAccount
    rejected: pl.DataFrame


def prepare(raw: pl.DataFrame) -> PreparedDrugs:
    """:func:`prepare_drugs` on every drug row, as one value (for a side input)."""
    drugs, account, rejected = prepare_drugs(raw)
    return PreparedDrugs(drug_nodes(drugs), account, rejected)


def accounts_from_counts(
    counts: Iterable[tuple[tuple[str, str], int]], published: dict[str, int]
) -> dict[str, SourceAccount]:
    """Publication accounts from the counts of :class:`CleanPublicationsFn` and the merged
    rows per kind: read = published + merged + rejected, as :func:`build_mentions` counts."""
    totals: dict[str, dict[str, int]] = {}
    for (kind, what), n in counts:
        totals.setdefault(kind, {})[what] = n
    accounts = {}
    for kind, values in totals.items():
        reasons = {
            what.split(":", 1)[1]: n for what, n in values.items() if what.startswith("rejected:")
        }
        accounts[kind] = SourceAccount(
            read=values.get("read", 0),
            published=published.get(kind, 0),
            merged=values.get("kept", 0) - published.get(kind, 0),
            rejected=sum(reasons.values()),
            rejected_by_reason=reasons,
        )
    return accounts


def assemble(
    drugs: PreparedDrugs,
    mentioned: pl.DataFrame | None,
    mentions: pl.DataFrame | None,
    rejected: pl.DataFrame | None,
    counts: list[tuple[tuple[str, str], int]],
    published: list[tuple[str, int]],
    repairs: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> MentionResult:
    """The :class:`MentionResult` of the whole run from the gathered pieces."""
    if mentioned is None or mentions is None:
        # nothing mentioned: an empty graph body with the right columns
        mentions = pl.DataFrame(schema={"pub_id": pl.String, "drug_id": pl.String})
        mentioned = pl.DataFrame(
            schema={c: t for c, t in MENTIONED_SCHEMA.items() if c != "drug_id"}
        )
    graph: GraphTables = graph_from_mentions(drugs.nodes, mentioned, mentions)
    accounts = accounts_from_counts(counts, dict(published))
    accounts["drugs"] = drugs.account
    parts = [drugs.rejected] if rejected is None else [drugs.rejected, rejected]
    rejected_all = pl.concat(parts, how="diagonal_relaxed").sort("table", SOURCE_FILE, SOURCE_ROW)
    return MentionResult(
        graph=graph,
        accounts=accounts,
        rejected=rejected_all,
        repairs=sorted({Repair(file, repair) for file, repair in repairs}),
    )


class BuildMentions(beam.PTransform):
    """Sources → one :class:`MentionResult`, the same as :func:`build_mentions` computes."""

    def __init__(
        self, sources: list[Source], shards: int = SHARDS, batch_rows: int = BATCH_ROWS
    ) -> None:
        super().__init__()
        self.sources = sources
        self.shards = shards
        self.batch_rows = batch_rows

    def expand(self, pipeline: beam.pvalue.PBegin) -> beam.PCollection:
        read = ReadSourceFn(self.batch_rows)
        drug_sources = [s for s in self.sources if s.source_kind == "drugs"]
        pub_sources = [s for s in self.sources if s.source_kind != "drugs"]

        drug_reads = (
            pipeline
            | "Drug files" >> beam.Create(drug_sources)
            | "Read drugs" >> beam.ParDo(read).with_outputs(read.REPAIRS, main="rows")
        )
        drugs = (
            drug_reads.rows
            | "Drug rows" >> beam.Values()
            | "All drugs" >> beam.CombineGlobally(ConcatFn(empty_raw("drugs")))
            | "Prepare drugs" >> beam.Map(prepare)
        )
        pub_reads = (
            pipeline
            | "Publication files" >> beam.Create(pub_sources)
            | "Read publications" >> beam.ParDo(read).with_outputs(read.REPAIRS, main="rows")
        )
        repairs = (
            drug_reads[read.REPAIRS],
            pub_reads[read.REPAIRS],
        ) | "All repairs" >> beam.Flatten()
        cleaned = (
            pub_reads.rows
            | "Spread batches" >> beam.Reshuffle()
            | "Clean"
            >> beam.ParDo(CleanPublicationsFn()).with_outputs(
                CleanPublicationsFn.REJECTED, CleanPublicationsFn.COUNTS, main="kept"
            )
        )
        merged = cleaned.kept | ShardedApply(
            MERGE_KEY, self.shards, merge_publications, "Merge duplicates"
        )
        published = (
            merged
            | "Published rows"
            >> beam.FlatMap(
                lambda f: f.group_by("kind").len().iter_rows()  # few kinds per batch
            )
            | "Sum published" >> beam.CombinePerKey(sum)
        )
        journals = (
            merged
            | "Spellings" >> beam.Map(journal_spellings)
            | "Sum spellings" >> beam.CombineGlobally(SpellingCountsFn())
            | "Journal names" >> beam.Map(journal_display_names)
        )
        nodes = merged | ShardedApply(ID_KEY, self.shards, publication_node_ids, "Node ids")
        matched = nodes | "Match" >> beam.ParDo(
            MatchFn(),
            beam.pvalue.AsSingleton(drugs | "Drug nodes" >> beam.Map(lambda d: d.nodes)),
            beam.pvalue.AsSingleton(journals),
        )
        mentioned = (
            matched
            | "Mentioned publications" >> beam.Map(lambda pair: pair[0])
            | "All mentioned" >> beam.CombineGlobally(ConcatFn())
        )
        mentions = (
            matched
            | "Mention pairs" >> beam.Map(lambda pair: pair[1])
            | "All mentions" >> beam.CombineGlobally(ConcatFn())
        )
        rejected = cleaned[CleanPublicationsFn.REJECTED] | "All rejected" >> beam.CombineGlobally(
            ConcatFn()
        )
        counts = cleaned[CleanPublicationsFn.COUNTS] | "Sum counts" >> beam.CombinePerKey(sum)
        return drugs | "Assemble" >> beam.Map(
            assemble,
            beam.pvalue.AsSingleton(mentioned),
            beam.pvalue.AsSingleton(mentions),
            beam.pvalue.AsSingleton(rejected),
            beam.pvalue.AsList(counts),
            beam.pvalue.AsList(published),
            beam.pvalue.AsList(repairs),
        )
