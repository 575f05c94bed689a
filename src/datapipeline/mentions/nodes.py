"""Node rules: publication node ids, journal names, and the node rows as written.

A publication's node id is ``<type>:<source id>``, stable across runs; a record without an id,
or sharing its id with another record of its kind, gets a hash of its content. A journal's name
is its most frequent spelling among the spellings that differ only by case. Each rule's plain
statement is in :mod:`datapipeline.mentions.rules`; these are its vectorised forms.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from datapipeline.mentions.rules import content_hash
from datapipeline.schema import PUBLICATION_TYPES


def shared_source_ids(pubs: pl.DataFrame) -> pl.Series:
    """For each publication, whether its node id needs the content hash: it has no id, or
    another publication of its kind has the same id (a source defect).

    The ids' 64-bit hashes are compared first (cheaper than the strings, or (kind, id) rows);
    only the few rows whose hash repeats (the same id, or a collision) are compared exactly.
    """
    ids = pubs.get_column("source_id")
    shared = ids.hash().is_duplicated()
    candidates = shared.arg_true()
    if not candidates.is_empty():
        same_kind = pubs.select("kind", "source_id")[candidates].select(
            pl.struct("kind", "source_id").is_duplicated()
        )
        shared = shared.scatter(candidates, same_kind.to_series())
    return (ids.is_null() | shared).alias("_shared")


def publication_node_type(kind: pl.Expr) -> pl.Expr:
    """The node type of publications of ``kind`` (``pubmed`` → ``pubmed``, ``clinical_trials``
    → ``clinical_trial``)."""
    return kind.replace_strict(PUBLICATION_TYPES, return_dtype=pl.String)


def publication_node_ids(pubs: pl.DataFrame, shared: pl.Series | None = None) -> pl.DataFrame:
    """Give each publication a node id ``<type>:<source id>``, stable across runs.

    A record without an id gets ``<type>:~<hash of title and date>``; two records sharing one
    id (a source defect) get the hash appended, so neither is lost. ``shared``: the
    :func:`shared_source_ids` of these rows when they were computed over more publications
    (a caller that needs ids only for some rows), else computed from ``pubs``.
    """
    node_type = publication_node_type(pl.col("kind"))
    if shared is None:
        shared = shared_source_ids(pubs)
    frame = pubs.with_columns(node_type.alias("type"), shared.alias("_shared"))
    # The content hash is needed by few rows (no id, or an id used twice): only they get one.
    rows = frame.get_column("_shared").arg_true()
    hashes = pl.Series("_hash", [None] * frame.height, dtype=pl.String)
    if not rows.is_empty():
        digest_input = frame.select(
            pl.concat_str(
                [
                    pl.col("kind"),
                    pl.col("title").str.to_lowercase(),
                    pl.col("date").cast(pl.String),
                ],
                separator="\x1f",
            )
        ).to_series()
        hashes = hashes.scatter(rows, [content_hash(v) for v in digest_input.gather(rows)])
    type_prefix = pl.concat_str(pl.col("type"), pl.lit(":"))
    node_id = (
        pl.when(pl.col("_hash").is_null())
        .then(pl.concat_str(type_prefix, pl.col("source_id")))
        .when(pl.col("source_id").is_null())
        .then(pl.concat_str(type_prefix, pl.lit("~"), pl.col("_hash")))
        .otherwise(pl.concat_str(type_prefix, pl.col("source_id"), pl.lit("~"), pl.col("_hash")))
    )
    return frame.with_columns(hashes).with_columns(node_id.alias("id")).drop("_shared", "_hash")


def journal_names(pubs: pl.DataFrame) -> pl.DataFrame:
    """Map each journal spelling to one display name: journals differing only by case are one.

    The display name is the most frequent spelling (ties: the smallest in code-point order).
    """
    return journal_display_names(journal_spellings(pubs))


def journal_spellings(pubs: pl.DataFrame) -> pl.DataFrame:
    """How many publications use each journal spelling: ``journal``, ``len``.

    Counts of disjoint sets of publications add up: an engine that sees the publications in
    batches sums the batches' counts per spelling and passes them to
    :func:`journal_display_names`.
    """
    return pubs.filter(pl.col("journal").is_not_null()).group_by("journal").len()


def summed_spellings(counts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Spelling counts (``journal``, ``len``) of several sets of publications added up, as
    signed 64-bit numbers (an engine may subtract the counts of rows it replaces); spellings
    counted zero times are dropped."""
    frames = [c.with_columns(pl.col("len").cast(pl.Int64)) for c in counts]
    if not frames:
        return pl.DataFrame(schema={"journal": pl.String, "len": pl.Int64})
    return pl.concat(frames).group_by("journal").agg(pl.col("len").sum()).filter(pl.col("len") > 0)


def journal_display_names(spelling_counts: pl.DataFrame) -> pl.DataFrame:
    """:func:`journal_names` from the counts of :func:`journal_spellings` (``journal``, ``len``)."""
    spellings = spelling_counts.with_columns(
        pl.col("journal").str.to_lowercase().alias("_key")
    ).sort(["_key", "len", "journal"], descending=[False, True, False])
    display = spellings.group_by("_key", maintain_order=True).agg(
        pl.col("journal").first().alias("journal_name")
    )
    return spellings.join(display, on="_key").select("journal", "journal_name")


def drug_nodes(drugs: pl.DataFrame) -> pl.DataFrame:
    """Drug nodes (id, type, name, atccode) with their search ``pattern``."""
    return drugs.select(
        pl.concat_str(pl.lit("drug:"), pl.col("name")).alias("id"),
        pl.lit("drug").alias("type"),
        pl.col("name"),
        pl.col("atccode"),
        pl.col("pattern"),
    )


def drug_node_rows(drug_node_table: pl.DataFrame) -> pl.DataFrame:
    """The drug nodes as written: ``id``, ``type``, ``name``, ``atccode``, sorted by id."""
    return drug_node_table.drop("pattern").sort("id")


def journal_node_rows(names: pl.Series) -> pl.DataFrame:
    """The journal nodes as written (``id``, ``type``, ``name``) of the display ``names``,
    sorted by id."""
    return (
        names.drop_nulls()
        .unique()
        .sort()
        .to_frame("name")
        .select(
            pl.concat_str(pl.lit("journal:"), "name").alias("id"),
            pl.lit("journal").alias("type"),
            "name",
        )
    )


def publication_node_rows(mentioned: pl.DataFrame) -> pl.DataFrame:
    """The publication nodes as written (``id``, ``type``, ``source_id``, ``title``, ``date``
    text, ``journal``), one per id, sorted by id, from rows as :func:`graph_from_mentioned`
    takes them. (That function makes the same rows its own, cheaper, way.)"""
    return (
        mentioned.unique("id")
        .select(
            "id",
            "type",
            "source_id",
            "title",
            pl.col("date").dt.to_string("%Y-%m-%d"),
            pl.col("journal_name").alias("journal"),
        )
        .sort("id")
    )
