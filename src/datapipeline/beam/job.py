"""The main job as one Beam ``PTransform``: sources in, the outputs written."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
import polars as pl

from datapipeline.beam import coders
from datapipeline.beam.outputs import finish
from datapipeline.beam.transforms import (
    BATCH_ROWS,
    ROWS_PER_RANGE,
    SHARDS,
    AccountsFn,
    ConcatFn,
    JournalNamesFn,
    KeysFn,
    MatchAndSplitFn,
    MergeFn,
    PreparedDrugsFn,
    RangesFn,
    ReadSourceFn,
    WriteRangeFn,
    by_range,
    fixed_ranges,
    id_group_nodes,
    repeated_keys,
)
from datapipeline.config import ProcessConfig, Source

# Steps declare frames in their output types: Beam then encodes them with FrameCoder.
coders.register()


def _read(
    pipeline: beam.pvalue.PBegin, what: str, sources: list[Source], read: ReadSourceFn
) -> beam.pvalue.DoOutputsTuple:
    """``sources`` read: ``rows`` (kind, batch) and the readers' repairs (tagged)."""
    return (
        pipeline
        | f"Files of {what}" >> beam.Create(sources)
        | f"Read {what}"
        >> beam.ParDo(read)
        .with_output_types(tuple[str, pl.DataFrame])
        .with_outputs(read.REPAIRS, main="rows")
    )


class MainJob(beam.PTransform):
    """Read ``sources``, run the recipe's steps, write graph.json, the rejected rows and the
    run report into ``output_dir``; the ranges of graph.json go through ``parts_dir``."""

    def __init__(
        self,
        sources: list[Source],
        output_dir: str,
        parts_dir: str,
        config: ProcessConfig,
        *,
        shards: int = SHARDS,
        batch_rows: int = BATCH_ROWS,
        rows_per_range: int = ROWS_PER_RANGE,
    ) -> None:
        super().__init__()
        self.sources = sources
        self.output_dir = output_dir
        self.parts_dir = parts_dir
        self.config = config
        self.shards = shards
        self.batch_rows = batch_rows
        self.rows_per_range = rows_per_range

    def expand(self, pipeline: beam.pvalue.PBegin) -> beam.PCollection[Any]:
        read = ReadSourceFn(self.batch_rows)
        drug_sources = [s for s in self.sources if s.source_kind == "drugs"]
        pub_sources = [s for s in self.sources if s.source_kind != "drugs"]

        drug_reads = _read(pipeline, "drugs", drug_sources, read)
        # What every worker needs whole is a combine seen as a singleton side input (no
        # default branch: an empty input gives the combine's value of nothing).
        drugs = (
            drug_reads.rows
            | "Drug rows" >> beam.Values()
            | "Prepare drugs" >> beam.CombineGlobally(PreparedDrugsFn()).as_singleton_view()
        )
        # Each publication file is read twice (see transforms): once for the key hashes, once
        # for the rest, when the repeated hashes are known.
        pub_reads = _read(pipeline, "publications", pub_sources, read)
        # tagged outputs declare their types too: frames then travel as FrameCoder's Arrow IPC
        keyed = pub_reads.rows | "Clean for keys" >> beam.ParDo(
            KeysFn(self.shards)
        ).with_output_types(
            tuple[int, pl.DataFrame],
            **{KeysFn.REJECTED: pl.DataFrame, KeysFn.ACCOUNTS: Any},
        ).with_outputs(KeysFn.REJECTED, KeysFn.ACCOUNTS, main="keys")
        # which merge keys and ids occur more than once: only their rows are shuffled
        repeated = (
            keyed.keys
            | "Key shards" >> beam.GroupByKey()
            | "Repeated keys" >> beam.FlatMap(repeated_keys)
            | "All repeated keys" >> beam.CombineGlobally(ConcatFn()).as_singleton_view()
        )
        record_outputs = {
            MatchAndSplitFn.NODES: pl.DataFrame,
            MatchAndSplitFn.SPELLINGS: pl.DataFrame,
            MatchAndSplitFn.ACCOUNTS: Any,
        }
        # its repairs are the first read's
        rows_again = _read(pipeline, "publications again", pub_sources, read)
        split = rows_again.rows | "Clean, match and split" >> beam.ParDo(
            MatchAndSplitFn(self.shards), drugs, repeated
        ).with_output_types(
            tuple[int, pl.DataFrame], **record_outputs, **{MatchAndSplitFn.SAMPLE: pl.DataFrame}
        ).with_outputs(
            MatchAndSplitFn.NODES,
            MatchAndSplitFn.SPELLINGS,
            MatchAndSplitFn.ACCOUNTS,
            MatchAndSplitFn.SAMPLE,
            main="candidates",
        )
        # the ranges are cut from a sample of the mentions, known once titles are matched: the
        # mentioned records then go to their ranges as they come, without being stored
        ranges = split[MatchAndSplitFn.SAMPLE] | "Cut ranges" >> (
            beam.CombineGlobally(RangesFn(self.rows_per_range)).as_singleton_view()
        )
        merged = (
            split.candidates
            | "Merge groups" >> beam.GroupByKey()
            | "Merge"
            >> beam.ParDo(MergeFn(self.shards), repeated)
            .with_output_types(tuple[int, pl.DataFrame], **record_outputs)
            .with_outputs(MergeFn.NODES, MergeFn.SPELLINGS, MergeFn.ACCOUNTS, main="with_id")
        )
        id_nodes = (
            merged.with_id
            | "Id groups" >> beam.GroupByKey()
            | "Node ids" >> beam.FlatMap(id_group_nodes).with_output_types(pl.DataFrame)
        )
        names = (
            (split[MatchAndSplitFn.SPELLINGS], merged[MergeFn.SPELLINGS])
            | "All spellings" >> beam.Flatten()
            | "Journal names" >> beam.CombineGlobally(JournalNamesFn()).as_singleton_view()
        )
        written = (
            (id_nodes, split[MatchAndSplitFn.NODES], merged[MergeFn.NODES])
            | "Mentioned records" >> beam.Flatten()
            | "By range"
            >> beam.FlatMap(by_range, ranges).with_output_types(
                tuple[tuple[str, int], pl.DataFrame]
            )
            | "Ranges" >> beam.GroupByKey()
            | "Write ranges"
            >> beam.ParDo(WriteRangeFn(self.parts_dir), drugs, names)
            .with_output_types(Any, **{WriteRangeFn.JOURNALS: pl.DataFrame})
            .with_outputs(WriteRangeFn.JOURNALS, main="ranges")
        )
        journals = written[WriteRangeFn.JOURNALS] | "All journals" >> (
            beam.CombineGlobally(ConcatFn()).as_singleton_view()
        )
        # Steps whose main input is one element and whose inputs are all side inputs start from
        # an element of their own: taken from the drugs, they would be fused with the step that
        # prepares the drugs, upstream of their own side inputs.
        fixed = (
            pipeline
            | "Fixed ranges" >> beam.Create([None])
            | "Write drugs and journals"
            >> beam.FlatMap(
                lambda _, *args: fixed_ranges(*args),
                drugs,
                journals,
                ranges,
                self.parts_dir,
            )
        )
        all_written = beam.pvalue.AsList((written.ranges, fixed) | "All ranges" >> beam.Flatten())
        accounts = (
            (
                keyed[KeysFn.ACCOUNTS],
                split[MatchAndSplitFn.ACCOUNTS],
                merged[MergeFn.ACCOUNTS],
            )
            | "All accounts" >> beam.Flatten()
            | "Sum accounts" >> beam.CombineGlobally(AccountsFn()).as_singleton_view()
        )
        rejected = keyed[KeysFn.REJECTED] | "All rejected" >> (
            beam.CombineGlobally(ConcatFn()).as_singleton_view()
        )
        repairs = (drug_reads[read.REPAIRS], pub_reads[read.REPAIRS]) | "All repairs" >> (
            beam.Flatten()
        )
        return (
            pipeline
            | "Outputs" >> beam.Create([None])
            | "Write outputs"
            >> beam.Map(
                lambda _, *args: finish(*args),
                drugs,
                all_written,
                accounts,
                rejected,
                beam.pvalue.AsList(repairs),
                self.output_dir,
                self.config,
            )
        )
