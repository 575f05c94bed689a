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
    KeysFn,
    MatchAndSplitFn,
    MergeFn,
    Ranges,
    ReadSourceFn,
    SpellingCountsFn,
    WriteRangeFn,
    by_range,
    empty_raw,
    fixed_ranges,
    id_group_nodes,
    repeated_keys,
)
from datapipeline.config import ProcessConfig, Source
from datapipeline.mentions import recipe
from datapipeline.mentions.nodes import journal_display_names

# Steps declare frames in their output types: Beam then encodes them with FrameCoder.
coders.register()


def _prepare_drugs(raw: pl.DataFrame | None) -> recipe.PreparedDrugs:
    return recipe.prepare_drugs(raw if raw is not None else empty_raw("drugs"))


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
        side = beam.pvalue.AsSingleton
        drug_sources = [s for s in self.sources if s.source_kind == "drugs"]
        pub_sources = [s for s in self.sources if s.source_kind != "drugs"]

        drug_reads = (
            pipeline
            | "Drug files" >> beam.Create(drug_sources)
            | "Read drugs"
            >> beam.ParDo(read)
            .with_output_types(tuple[str, pl.DataFrame])
            .with_outputs(read.REPAIRS, main="rows")
        )
        drugs = (
            drug_reads.rows
            | "Drug rows" >> beam.Values()
            | "All drugs" >> beam.CombineGlobally(ConcatFn())
            | "Prepare drugs" >> beam.Map(_prepare_drugs)
        )
        # Each publication file is read twice (see transforms): once for the key hashes, once
        # for the rest, when the repeated hashes are known.
        pub_reads = (
            pipeline
            | "Publication files" >> beam.Create(pub_sources)
            | "Read publications"
            >> beam.ParDo(read)
            .with_output_types(tuple[str, pl.DataFrame])
            .with_outputs(read.REPAIRS, main="rows")
        )
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
            | "All repeated keys" >> beam.CombineGlobally(ConcatFn())
        )
        records = {
            MatchAndSplitFn.NODES: pl.DataFrame,
            MatchAndSplitFn.SPELLINGS: pl.DataFrame,
            MatchAndSplitFn.ACCOUNTS: Any,
        }
        rows_again = (
            pipeline
            | "Publication files again" >> beam.Create(pub_sources)
            | "Read publications again"
            >> beam.ParDo(read)
            .with_output_types(tuple[str, pl.DataFrame])
            .with_outputs(read.REPAIRS, main="rows")  # its repairs are the first read's
        )
        split = rows_again.rows | "Clean, match and split" >> beam.ParDo(
            MatchAndSplitFn(self.shards), side(drugs), side(repeated)
        ).with_output_types(
            tuple[int, pl.DataFrame], **records, **{MatchAndSplitFn.SAMPLE: pl.DataFrame}
        ).with_outputs(
            MatchAndSplitFn.NODES,
            MatchAndSplitFn.SPELLINGS,
            MatchAndSplitFn.ACCOUNTS,
            MatchAndSplitFn.SAMPLE,
            main="candidates",
        )
        # the ranges are cut from a sample of the mentions, known once titles are matched: the
        # mentioned records then go to their ranges as they come, without being stored
        ranges = (
            split[MatchAndSplitFn.SAMPLE]
            | "All samples" >> beam.CombineGlobally(ConcatFn())
            | "Cut ranges" >> beam.Map(Ranges.from_sample, self.rows_per_range)
        )
        merged = (
            split.candidates
            | "Merge groups" >> beam.GroupByKey()
            | "Merge"
            >> beam.ParDo(MergeFn(self.shards), side(repeated))
            .with_output_types(tuple[int, pl.DataFrame], **records)
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
            | "Sum spellings" >> beam.CombineGlobally(SpellingCountsFn())
            | "Journal names" >> beam.Map(journal_display_names)
        )
        written = (
            (id_nodes, split[MatchAndSplitFn.NODES], merged[MergeFn.NODES])
            | "Mentioned records" >> beam.Flatten()
            | "By range"
            >> beam.FlatMap(by_range, side(ranges)).with_output_types(
                tuple[tuple[str, int], pl.DataFrame]
            )
            | "Ranges" >> beam.GroupByKey()
            | "Write ranges"
            >> beam.ParDo(WriteRangeFn(self.parts_dir), side(drugs), side(names))
            .with_output_types(Any, **{WriteRangeFn.JOURNALS: pl.DataFrame})
            .with_outputs(WriteRangeFn.JOURNALS, main="ranges")
        )
        journals = written[WriteRangeFn.JOURNALS] | "All journals" >> beam.CombineGlobally(
            ConcatFn()
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
                side(drugs),
                side(journals),
                side(ranges),
                self.parts_dir,
            )
        )
        all_written = (
            (written.ranges, fixed)
            | "All ranges" >> beam.Flatten()
            | "Gather ranges" >> beam.combiners.ToList()
        )
        accounts = (
            (
                keyed[KeysFn.ACCOUNTS],
                split[MatchAndSplitFn.ACCOUNTS],
                merged[MergeFn.ACCOUNTS],
            )
            | "All accounts" >> beam.Flatten()
            | "Sum accounts" >> beam.CombineGlobally(AccountsFn())
        )
        rejected = keyed[KeysFn.REJECTED] | "All rejected" >> beam.CombineGlobally(ConcatFn())
        repairs = (drug_reads[read.REPAIRS], pub_reads[read.REPAIRS]) | "All repairs" >> (
            beam.Flatten()
        )
        return (
            pipeline
            | "Outputs" >> beam.Create([None])
            | "Write outputs"
            >> beam.Map(
                lambda _, *args: finish(*args),
                side(drugs),
                side(all_written),
                side(accounts),
                side(rejected),
                beam.pvalue.AsList(repairs),
                self.output_dir,
                self.config,
            )
        )
