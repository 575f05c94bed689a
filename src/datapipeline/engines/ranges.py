"""Ranges of a sort key cut from a sample, so that buckets written apart concatenate in order.

The stream engine and the Beam engine both write graph.json by ranges: the rows of each range
sorted on their own, the ranges in order, are the rows sorted.
"""

from __future__ import annotations

import polars as pl


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
