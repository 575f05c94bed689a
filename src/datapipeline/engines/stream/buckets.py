"""Rows spilled part by part to temporary Parquet files, read back by ranges of a sort key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import polars as pl

from datapipeline.engines.ranges import boundaries, bucket_of

#: Compression of the temporary files (written once and read once, on a local disk).
SPILL_COMPRESSION: Literal["lz4", "uncompressed"] = "uncompressed"


#: Rows per row group of the temporary files (the unit a range read may skip).
SPILL_ROW_GROUP = 8_192


#: One key in this many is kept to cut the ranges.
SAMPLE_EVERY = 64


class Buckets:
    """Rows spilled part by part, read back by ranges of a sort key.

    Each part's rows are written sorted by the key, in small row groups: a range is read from
    every part's file, and the row-group statistics let the reader skip the groups outside it.
    The ranges are cut at the end of pass 1 from a sample of every part's keys (no part alone
    tells the spread of the keys: a PubMed file holds one range of ids).
    """

    def __init__(self, root: Path, key: str, schema: dict[str, Any]) -> None:
        self.root = root
        self.key = key
        self.schema = schema
        self.rows = 0
        self.samples: list[pl.Series] = []
        self.cuts = pl.Series(key, [], dtype=pl.String)

    def write(self, frame: pl.DataFrame, part: int) -> None:
        """Write ``frame`` (the rows of one part) sorted by the key, and sample its keys."""
        ordered = frame.sort(self.key)
        self.root.mkdir(parents=True, exist_ok=True)
        ordered.write_parquet(
            self.root / f"{part:06d}.parquet",
            compression=SPILL_COMPRESSION,
            row_group_size=SPILL_ROW_GROUP,
        )
        sample = ordered.get_column(self.key).gather_every(SAMPLE_EVERY)
        self.samples.append(pl.Series(self.key, sample.to_arrow()))
        self.rows += ordered.height

    def cut(self, rows_per_bucket: int) -> None:
        """Fix the ranges: about ``rows_per_bucket`` rows each."""
        count = max(1, math.ceil(self.rows / rows_per_bucket))
        if self.samples:
            self.cuts = boundaries(pl.concat(self.samples), count)

    @property
    def count(self) -> int:
        """How many ranges (0 when no row was spilled)."""
        return self.cuts.len() + 1 if self.rows else 0

    def of(self, values: pl.Series) -> pl.Series:
        """The range of each value."""
        return bucket_of(self.cuts, values)

    def read(self, bucket: int) -> pl.DataFrame:
        """The rows of range ``bucket``, from every part."""
        files = sorted(self.root.glob("*.parquet")) if self.root.is_dir() else []
        if not files:
            return pl.DataFrame(schema=self.schema)
        key = pl.col(self.key)
        within = pl.lit(True)
        if bucket > 0:
            within = within & (key >= self.cuts[bucket - 1])
        if bucket < self.cuts.len():
            within = within & (key < self.cuts[bucket])
        return pl.scan_parquet(files).filter(within).collect()
