"""From raw source rows to the graph: the one function every engine calls.

Cleaning, merging and matching happen here, in that order, with every input row accounted
for: each is published (part of a cleaned table), merged into another row, or rejected with
a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from datapipeline.mentions.cleaning import (
    PUB_KEY,
    clean_drugs,
    clean_publications,
    merge_drugs,
    merge_publications,
)
from datapipeline.mentions.graph import (
    GraphTables,
    Matcher,
    drug_nodes,
    graph_from_mentioned,
    journal_display_names,
    journal_spellings,
    publication_node_ids,
    shared_source_ids,
    summed_spellings,
)
from datapipeline.mentions.matching import (
    WORDS,
    drug_patterns,
    find_mentions,
    words_and_merge_keys,
)
from datapipeline.repairs import Repair
from datapipeline.schema import (
    CLINICAL_TRIALS,
    DRUGS,
    PUBMED,
    SOURCE_FILE,
    SOURCE_ROW,
    SourceKind,
)


@dataclass
class SourceAccount:
    """How one source table's rows ended: read = published + merged + rejected."""

    read: int = 0
    published: int = 0
    merged: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

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


@dataclass
class MentionResult:
    """The graph, the per-source accounts and the rejected rows (with their reasons)."""

    graph: GraphTables
    accounts: dict[str, SourceAccount]
    rejected: pl.DataFrame
    #: repairs made while reading the rows, when the engine read them itself (Beam)
    repairs: list[Repair] = field(default_factory=list)


def _rejected_rows(
    raw: pl.DataFrame, rejected: pl.DataFrame, table: str, fields: list[str]
) -> pl.DataFrame:
    """The rejected rows as they were read (not as cleaned), with table, provenance, reason."""
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


def _reasons(rejected: pl.DataFrame) -> dict[str, int]:
    counts = rejected.group_by("_reason").len()
    return dict(zip(counts["_reason"].to_list(), counts["len"].to_list(), strict=True))


def prepare_drugs(raw_drugs: pl.DataFrame) -> tuple[pl.DataFrame, SourceAccount, pl.DataFrame]:
    """Clean, pattern and merge the drug rows: (drugs, their account, the rejected rows)."""
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
    rejected = _rejected_rows(raw_drugs, drugs_rejected, DRUGS.name, list(DRUGS.columns))
    return drugs, account, rejected


#: Publication keys (``PUB_KEY``) of one kind: kind i numbers its rows from i * KEYS_PER_KIND.
KEYS_PER_KIND = 2**31


def build_mentions(
    raw_drugs: pl.DataFrame,
    raw_publications: dict[str, pl.DataFrame],
    matcher: Matcher = find_mentions,
    cleaned: Mapping[str, tuple[pl.DataFrame, pl.DataFrame]] | None = None,
) -> MentionResult:
    """Clean, merge and match raw rows (canonical string columns + provenance) into a graph.

    ``raw_publications`` maps a publication kind (``pubmed``, ``clinical_trials``) to its rows;
    ``matcher`` finds the mentions (see :data:`datapipeline.mentions.graph.Matcher`);
    ``cleaned``: what :func:`clean_publications` returns for a kind's raw rows, when the
    caller cleaned them already (as they were read).

    The titles are matched as cleaned, before duplicates are merged: a merged record keeps the
    title of its first row, so its mentions are that row's. Matching each row of a part
    depends on nothing but that row (a matcher may cache results per input file), and it runs
    on a thread while the rows are merged and given node ids.
    """
    accounts: dict[str, SourceAccount] = {}
    rejected_parts: list[pl.DataFrame] = []

    drugs, accounts[DRUGS.name], drugs_rejected = prepare_drugs(raw_drugs)
    rejected_parts.append(drugs_rejected)
    nodes = drug_nodes(drugs)

    drug_patterns = nodes.select(pl.col("id").alias("drug_id"), "pattern")

    def prepare(
        kind: SourceKind, first_key: int, match_pool: ThreadPoolExecutor
    ) -> tuple[SourceAccount, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """One kind from cleaning to its mentioned publications: (its account, its rejected
        rows, its journal spelling counts, one row per mention with the node columns of its
        publication)."""
        if cleaned is not None and kind.name in cleaned:
            kept, rejected = cleaned[kind.name]
        else:
            kept, rejected = clean_publications(raw_publications[kind.name], kind.name)
        # every kept row gets a number: the matcher names titles by it, merging keeps the first
        numbered = kept.with_columns(
            pl.int_range(first_key, first_key + kept.height, dtype=pl.UInt32).alias(PUB_KEY)
        )
        # one byte-table pass gives both the words matched and the keys merged on
        words, merge_keys = words_and_merge_keys(numbered.get_column("title"))
        titles = numbered.select(
            pl.col(PUB_KEY).alias("pub_id"), "title", "kind", SOURCE_FILE, SOURCE_ROW
        ).with_columns(words.alias(WORDS))
        matching = match_pool.submit(matcher, titles, drug_patterns)
        # merged while the titles are matched
        merged = merge_publications(numbered, merge_keys)
        raw = raw_publications[kind.name]
        account = SourceAccount(
            read=raw.height,
            published=merged.height,
            merged=kept.height - merged.height,
            rejected=rejected.height,
            rejected_by_reason=_reasons(rejected),
        )
        rejected_rows = _rejected_rows(raw, rejected, kind.name, list(kind.columns))
        # ids are shared within a kind (see shared_source_ids): node ids are given per kind,
        # only to the publications that are nodes
        shared = shared_source_ids(merged)
        spellings = journal_spellings(merged)
        mentions = matching.result()
        is_node = merged.get_column(PUB_KEY).is_in(mentions.get_column("pub_id").implode())
        nodes_pubs = publication_node_ids(merged.filter(is_node), shared.filter(is_node))
        columns = nodes_pubs.select(PUB_KEY, "id", "type", "source_id", "title", "date", "journal")
        mentioned = columns.join(mentions, left_on=PUB_KEY, right_on="pub_id").drop(PUB_KEY)
        # in node id order here, on this kind's thread: the graph's sort then finds it done
        return account, rejected_rows, spellings, mentioned.sort("id", multithreaded=False)

    # The kinds are independent: each is cleaned, matched, merged and given node ids on
    # threads of its own (Polars runs without the GIL), so matching starts as soon as a kind is
    # clean and one kind's tail runs while the other is matched.
    kinds = [k for k in (PUBMED, CLINICAL_TRIALS) if k.name in raw_publications]
    with (
        ThreadPoolExecutor(2, thread_name_prefix="prepare") as pool,
        ThreadPoolExecutor(2, thread_name_prefix="match") as match_pool,
    ):
        # Keys are unique across kinds: each kind numbers from its own block of 2**31.
        prepared = [
            pool.submit(prepare, kind, index * KEYS_PER_KIND, match_pool)
            for index, kind in enumerate(kinds)
        ]
        spelling_parts = []
        mentioned_parts = []
        for kind, future in zip(kinds, prepared, strict=True):
            accounts[kind.name], rejected_rows, spellings, mentioned_rows = future.result()
            rejected_parts.append(rejected_rows)
            spelling_parts.append(spellings)
            mentioned_parts.append(mentioned_rows)
    # journal names over every kind's records (a journal's spellings span kinds)
    names = journal_display_names(summed_spellings(spelling_parts))
    # Each kind's node ids start with its own "<type>:" (see publication_node_ids): its rows,
    # sorted by id, put end to end in the order of those prefixes are sorted too.
    by_type = sorted(mentioned_parts, key=lambda part: str(part.get_column("type").first()) + ":")
    mentioned = (
        pl.concat(by_type, how="diagonal_relaxed")
        .join(names, on="journal", how="left", maintain_order="left")
        .select("id", "type", "source_id", "title", "date", "journal_name", "drug_id")
    )
    graph = graph_from_mentioned(nodes, mentioned)
    rejected_all = pl.concat(rejected_parts, how="diagonal_relaxed").sort(
        "table", SOURCE_FILE, SOURCE_ROW
    )
    return MentionResult(graph=graph, accounts=accounts, rejected=rejected_all)
