"""The job, declared once: the steps from raw rows to the graph, and what each must see at once.

Every engine runs these steps and only these; engines differ in how they bring rows together
(in memory, part by part with spilled buckets, or through Beam's shuffles), never in a rule:

=============  ==============================  =============================================
step           must see at once                gives
=============  ==============================  =============================================
drugs          every drug row (a small list)   drug nodes and patterns (:func:`prepare_drugs`)
clean          any batch: row by row           kept rows, rejected rows (:func:`clean`)
match          any batch: row by row           (row, drug) pairs (``Matcher``)
merge          every row of a merge group      records (:func:`merge`)
node ids       every record of an id group     node ids (:func:`node_ids`)
spellings      any batch: counts add up        journal names (:func:`journal_names`)
assemble       a range of node or drug ids     graph tables of the range (:func:`assemble`)
=============  ==============================  =============================================

A merge group is every kept row of one kind with the same title (ignoring case) and date; an
id group every record of one kind with the same source id. Titles are matched as cleaned,
before merging: a record keeps its first row's title, so its mentions are that row's. Each step
gives its share of the run's accounts (:class:`SourceAccount`): accounts add up, so a run's
account is the sum of its batches' and groups', whatever the engine cut them into.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from datapipeline.mentions.assembly import GraphTables, graph_from_mentioned
from datapipeline.mentions.cleaning import (
    clean_drugs,
    clean_publications,
    merge_drugs,
    merge_publications,
)
from datapipeline.mentions.matching import drug_patterns
from datapipeline.mentions.nodes import (
    drug_nodes,
    journal_display_names,
    publication_node_ids,
    shared_source_ids,
    summed_spellings,
)
from datapipeline.repairs import Repair
from datapipeline.schema import DRUGS, SOURCE_FILE, SOURCE_ROW, SourceKind


@dataclass(frozen=True)
class SourceAccount:
    """How one source table's rows ended: read = published + merged + rejected.

    Accounts add up: the clean step counts rows read and rejected, the merge step rows
    published and merged, and an engine sums the shares of its batches and groups.
    """

    read: int = 0
    published: int = 0
    merged: int = 0
    rejected: int = 0
    rejected_by_reason: Mapping[str, int] = field(default_factory=dict)

    def __add__(self, other: SourceAccount) -> SourceAccount:
        reasons = dict(self.rejected_by_reason)
        for reason, count in other.rejected_by_reason.items():
            reasons[reason] = reasons.get(reason, 0) + count
        return SourceAccount(
            read=self.read + other.read,
            published=self.published + other.published,
            merged=self.merged + other.merged,
            rejected=self.rejected + other.rejected,
            rejected_by_reason=reasons,
        )

    @property
    def balanced(self) -> bool:
        """True when every row read is accounted for."""
        return self.read == self.published + self.merged + self.rejected

    def to_dict(self) -> dict[str, object]:
        """The account as plain JSON-ready values, reasons sorted."""
        return {
            "read": self.read,
            "published": self.published,
            "merged": self.merged,
            "rejected": self.rejected,
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
        }


def add_accounts(*shares: Mapping[str, SourceAccount]) -> dict[str, SourceAccount]:
    """Accounts per source table, summed over ``shares``."""
    total: dict[str, SourceAccount] = {}
    for share in shares:
        for table, account in share.items():
            total[table] = total.get(table, SourceAccount()) + account
    return total


def _reasons(rejected: pl.DataFrame) -> dict[str, int]:
    counts = rejected.group_by("_reason").len()
    return dict(zip(counts["_reason"].to_list(), counts["len"].to_list(), strict=True))


def rejected_rows(
    raw: pl.DataFrame, rejected: pl.DataFrame, table: str, fields: list[str]
) -> pl.DataFrame:
    """The rejected rows as they were read (not as cleaned), with table, provenance, reason
    and the record as JSON: the rows of ``rejected_rows.jsonl``."""
    provenance = [SOURCE_FILE, SOURCE_ROW]
    # the rows by number first: a join on the file name alone would hash it for every row read
    numbers = rejected.get_column(SOURCE_ROW).implode()
    frame = raw.filter(pl.col(SOURCE_ROW).is_in(numbers)).join(
        rejected.select(*provenance, "_reason"), on=provenance
    )
    return frame.select(
        pl.lit(table).alias("table"),
        pl.col(SOURCE_FILE),
        pl.col(SOURCE_ROW),
        pl.col("_reason").alias("reason"),
        pl.struct(fields).struct.json_encode().alias("record"),
    )


def sorted_rejected_rows(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Rejected rows of every source, in the order they are written: table, file, row."""
    return pl.concat(list(parts), how="diagonal_relaxed").sort("table", SOURCE_FILE, SOURCE_ROW)


@dataclass(frozen=True)
class PreparedDrugs:
    """The drug list after the drugs step: graph nodes with their search patterns, the
    account of the drug rows and the rejected ones."""

    nodes: pl.DataFrame
    account: SourceAccount
    rejected: pl.DataFrame

    @property
    def patterns(self) -> pl.DataFrame:
        """What a matcher is given: ``drug_id``, ``pattern``."""
        return self.nodes.select(pl.col("id").alias("drug_id"), "pattern")


def prepare_drugs(raw_drugs: pl.DataFrame) -> PreparedDrugs:
    """The drugs step: clean, pattern and merge every drug row."""
    drugs, drugs_rejected = clean_drugs(raw_drugs)
    drugs, no_letters = drug_patterns(drugs)
    drugs_rejected = pl.concat([drugs_rejected, no_letters], how="diagonal_relaxed")
    drugs = merge_drugs(drugs)
    account = SourceAccount(
        read=raw_drugs.height,
        published=drugs.height,
        merged=int(drugs["rows"].sum()) - drugs.height,
        rejected=drugs_rejected.height,
        rejected_by_reason=_reasons(drugs_rejected),
    )
    rejected = rejected_rows(raw_drugs, drugs_rejected, DRUGS.name, list(DRUGS.columns))
    return PreparedDrugs(drug_nodes(drugs), account, rejected)


@dataclass(frozen=True)
class Cleaned:
    """The clean step's result for one batch of raw rows of one kind."""

    #: the rows kept, cleaned (with ``kind``, a parsed ``date`` and the raw ``date_text``)
    kept: pl.DataFrame
    #: the rows rejected, as :func:`rejected_rows` writes them
    rejected: pl.DataFrame
    #: the rows rejected as cleaned, with their ``_reason`` (and any column the raw rows had)
    rejected_as_cleaned: pl.DataFrame
    #: rows read and rejected
    account: SourceAccount

    @classmethod
    def concat(cls, parts: Iterable[Cleaned]) -> Cleaned:
        """The clean step's result for the batches of ``parts`` put end to end (cleaning is
        row by row: the same as cleaning them as one batch)."""
        parts = list(parts)
        return cls(
            kept=pl.concat([p.kept for p in parts], how="vertical_relaxed"),
            rejected=pl.concat([p.rejected for p in parts], how="diagonal_relaxed"),
            rejected_as_cleaned=pl.concat(
                [p.rejected_as_cleaned for p in parts], how="diagonal_relaxed"
            ),
            account=sum((p.account for p in parts), SourceAccount()),
        )


def clean(raw: pl.DataFrame, kind: SourceKind) -> Cleaned:
    """The clean step: one batch of raw rows of ``kind`` (canonical columns, provenance)."""
    kept, rejected = clean_publications(raw, kind.name)
    account = SourceAccount(
        read=raw.height, rejected=rejected.height, rejected_by_reason=_reasons(rejected)
    )
    rows = rejected_rows(raw, rejected, kind.name, list(kind.columns))
    return Cleaned(kept=kept, rejected=rows, rejected_as_cleaned=rejected, account=account)


def merge(
    kept: pl.DataFrame, merge_keys: pl.Series | None = None, first_of: Sequence[str] = ()
) -> tuple[pl.DataFrame, SourceAccount]:
    """The merge step: kept rows of one kind holding whole merge groups → (records, rows
    published and merged). ``merge_keys``: the titles' merge keys when the caller has them
    already; ``first_of``: other columns a record takes from its first row (what the engine
    carries with the rows, e.g. their mentions)."""
    records = merge_publications(kept, merge_keys, first_of)
    return records, SourceAccount(published=records.height, merged=kept.height - records.height)


def node_ids(
    records: pl.DataFrame, wanted: pl.Series | None = None, shared: pl.Series | None = None
) -> pl.DataFrame:
    """The node-id step: records holding whole id groups → the ``wanted`` ones (a mask; all
    when None) with their node ``id`` and ``type``. Whether an id is shared is decided over
    every record given, wanted or not (``shared``: :func:`shared_source_ids` of the records,
    when the caller computed it already)."""
    if wanted is None:
        return publication_node_ids(records, shared)
    if shared is None:
        shared = shared_source_ids(records)
    return publication_node_ids(records.filter(wanted), shared.filter(wanted))


def journal_names(spelling_counts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """The spellings step: journal spelling counts of every record (any batches; counts add
    up) → the display name of each spelling (``journal``, ``journal_name``)."""
    return journal_display_names(summed_spellings(spelling_counts))


def assemble(
    drug_nodes_table: pl.DataFrame, mentioned: pl.DataFrame, *, nodes: bool = True
) -> GraphTables:
    """The assemble step: one row per mention (node columns of the publication, journal name,
    ``drug_id``) of a range of publication or drug ids → the graph tables of that range
    (``nodes=False``: its edges only)."""
    return graph_from_mentioned(drug_nodes_table, mentioned, nodes=nodes)


@dataclass
class MentionResult:
    """The whole graph, the per-source accounts and the rejected rows, in memory."""

    graph: GraphTables
    accounts: dict[str, SourceAccount]
    rejected: pl.DataFrame
    #: repairs made while reading the rows, when the engine read them itself
    repairs: list[Repair] = field(default_factory=list)
