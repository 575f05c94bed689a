"""The stream engine's last step: the graph's tables bucket by bucket, in graph.json's order."""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from datapipeline.engines.stream.records import RepeatedRecords
from datapipeline.engines.stream.scan import Scan
from datapipeline.kernels.node_link import Chunk
from datapipeline.mentions import recipe
from datapipeline.mentions.assembly import MENTIONED_SCHEMA
from datapipeline.mentions.cleaning import PUB_KEY
from datapipeline.mentions.nodes import (
    drug_node_rows,
    journal_node_rows,
    publication_node_rows,
    summed_spellings,
)
from datapipeline.run.report import GraphSummary
from datapipeline.schema import CLINICAL_TRIALS, PUBLICATION_TYPES, PUBMED, SourceKind


def with_missing(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the columns of :data:`MENTIONED_SCHEMA` it lacks, null."""
    missing = [
        pl.lit(None, dtype=t).alias(c) for c, t in MENTIONED_SCHEMA.items() if c not in frame
    ]
    return frame.with_columns(missing)


class BucketedGraph:
    """The graph's tables, bucket by bucket, in the order of graph.json; sums up what it
    gives (:attr:`summary`)."""

    def __init__(
        self, scan: Scan, records: RepeatedRecords, names: pl.DataFrame, drug_table: pl.DataFrame
    ) -> None:
        self.scan = scan
        self.records = records
        self.names = names
        self.drug_table = drug_table
        self.drugs = drug_node_rows(drug_table)
        mentioned = summed_spellings([*scan.mentioned_spellings, records.mentioned_spellings])
        journal_names = mentioned.join(names, on="journal").get_column("journal_name")
        self.journals = journal_node_rows(journal_names)
        self.summary = GraphSummary(drugs=self.drugs.height, journals=self.journals.height)

    def nodes(self) -> Iterator[pl.DataFrame]:
        """Nodes by id: the order of their id prefixes (``clinical_trial:`` < ``drug:`` <
        ``journal:`` < ``pubmed:``)."""
        yield from self._publications(CLINICAL_TRIALS)
        yield self.drugs
        yield self.journals
        yield from self._publications(PUBMED)

    def _publications(self, kind: SourceKind) -> Iterator[pl.DataFrame]:
        buckets = self.scan.nodes[kind.name]
        own = self.records.mentioned.filter(pl.col("type") == PUBLICATION_TYPES[kind.name])
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
            table = publication_node_rows(with_missing(frame))
            self.summary += GraphSummary(publications=table.height)
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
            tables = recipe.assemble(self.drug_table, with_missing(frame), nodes=False)
            self.summary += GraphSummary.of_tables(tables, nodes=False)
            yield tables.edges
