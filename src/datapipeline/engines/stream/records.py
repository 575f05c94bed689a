"""The stream engine's merge: rows whose merge key or id repeats, read again and merged exactly.

A row outside this set has an id and a key no other row has, so it is a record of its own (a
merge group and an id group of one), and its node id is the one pass 1 gave it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import polars as pl

from datapipeline.engines.ranges import repeated
from datapipeline.engines.stream.scan import (
    NODE_COLUMNS,
    PUBLICATION_KINDS,
    PartScan,
    canonical,
    compact,
    node_schema,
)
from datapipeline.errors import LakeError
from datapipeline.lake import Lake
from datapipeline.mentions import recipe
from datapipeline.mentions.cleaning import PUB_KEY
from datapipeline.mentions.nodes import journal_spellings
from datapipeline.mentions.recipe import SourceAccount


def _counts(counts: pl.DataFrame, sign: int = 1) -> pl.DataFrame:
    """Spelling counts (``journal``, ``len``) as signed 64-bit numbers, times ``sign``."""
    return counts.with_columns(pl.col("len").cast(pl.Int64) * sign)


@dataclass
class RepeatedRecords:
    """The rows read again (their key or id repeats) and the records they make."""

    #: numbers of every row read again (their spilled rows are replaced)
    numbers: pl.Series
    #: the records with a mention: node columns, ``PUB_KEY`` of their first row
    mentioned: pl.DataFrame
    #: per kind, the merge step's share of its account for the rows read again
    accounts: dict[str, SourceAccount]
    #: spelling counts of every record, of the records with a mention
    spellings: pl.DataFrame
    mentioned_spellings: pl.DataFrame


def _rows_to_read_again(parts: list[PartScan]) -> dict[int, tuple[pl.Series, pl.Series]]:
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


def _read_again(
    lake: Lake, part: PartScan, positions: pl.Series, numbers: pl.Series
) -> pl.DataFrame:
    """The cleaned rows at ``positions`` of ``part``, read again from the lake."""
    raw = canonical(lake.read_part_frame(part.path, part.ranges), part.kind)
    if raw.height != part.raw_rows:
        raise LakeError(f"{lake.uri(part.path)}: the part changed while it was processed")
    clean = recipe.clean(raw[positions], part.kind)
    if not clean.rejected.is_empty() or clean.kept.height != numbers.len():
        raise LakeError(f"{lake.uri(part.path)}: the part changed while it was processed")
    return compact(clean.kept.with_columns(numbers.alias(PUB_KEY)))


def merge_repeated(lake: Lake, parts: list[PartScan]) -> RepeatedRecords:
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
    accounts: dict[str, SourceAccount] = {}
    records: list[pl.DataFrame] = []
    for kind in PUBLICATION_KINDS:
        of_kind = [r for r in rows if r.get_column("kind")[0] == kind.name]
        if of_kind:
            kind_records, accounts[kind.name] = recipe.merge(
                pl.concat(of_kind, how="diagonal_relaxed")
            )
            records.append(kind_records)
    if not records:
        empty = pl.DataFrame(schema={"journal": pl.String, "len": pl.Int64})
        return RepeatedRecords(numbers, pl.DataFrame(schema=node_schema()), accounts, empty, empty)
    all_rows = pl.concat(rows, how="diagonal_relaxed")
    all_records = recipe.node_ids(pl.concat(records, how="diagonal_relaxed"))
    is_mentioned = pl.col(PUB_KEY).is_in(mentioned_numbers.implode())
    mentioned = all_records.filter(is_mentioned)
    return RepeatedRecords(
        numbers=numbers,
        mentioned=mentioned.select(NODE_COLUMNS),
        accounts=accounts,
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
