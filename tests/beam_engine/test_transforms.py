"""The Beam transforms on their own, with TestPipeline and assert_that."""

from __future__ import annotations

import polars as pl

from tests.datagen import require_beam

beam = require_beam()

from apache_beam.testing import test_pipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

from datapipeline.beam.transforms import (  # noqa: E402
    MERGE_KEY,
    CleanPublicationsFn,
    ShardedApply,
    SpellingCountsFn,
)
from datapipeline.mentions.cleaning import clean_publications, merge_publications  # noqa: E402
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW  # noqa: E402


def raw(rows: list[tuple[str | None, str | None, str | None, str | None]], file: str):
    return pl.DataFrame(
        {
            "source_id": [r[0] for r in rows],
            "title": [r[1] for r in rows],
            "date": [r[2] for r in rows],
            "journal": [r[3] for r in rows],
            SOURCE_FILE: [file] * len(rows),
            SOURCE_ROW: list(range(1, len(rows) + 1)),
        },
        schema={c: pl.String for c in ("source_id", "title", "date", "journal", SOURCE_FILE)}
        | {SOURCE_ROW: pl.Int64},
    )


def _rows(frame: pl.DataFrame) -> list[tuple]:
    return sorted(frame.select(sorted(frame.columns)).iter_rows(), key=repr)


def test_merge_shards_bring_duplicates_together_across_batches():
    # batch b holds the id-less copy, batch a the id: they merge whatever shard order
    a = clean_publications(
        raw([("1", "Acid study", "2020-01-01", None), ("2", "Other", "2020-01-01", "J")], "a"),
        "pubmed",
    )[0]
    b = clean_publications(
        raw(
            [(None, "ACID study", "01/01/2020", "Journal"), ("3", "Other", "2020-01-01", "K")], "b"
        ),
        "pubmed",
    )[0]
    expected = merge_publications(pl.concat([a, b]))
    assert expected.height == 3  # 1 + its id-less copy; 2 and 3 stay apart (two ids)
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        merged = (
            p
            | beam.Create([b, a])
            | ShardedApply(MERGE_KEY, 3, merge_publications, "Merge")
            | beam.FlatMap(_rows)
        )
        assert_that(merged, equal_to(_rows(expected)))
    one = expected.filter(pl.col("source_id") == "1").row(0, named=True)
    assert (one["journal"], one["rows"]) == ("Journal", 2)


def test_clean_fn_splits_kept_rejected_and_counts():
    batch = raw(
        [("1", "A", "2020-01-01", "J"), ("2", None, "2020-01-01", "J"), ("3", "B", "x", "J")],
        "f",
    )
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        out = (
            p
            | beam.Create([("pubmed", batch)])
            | beam.ParDo(CleanPublicationsFn()).with_outputs("rejected", "counts", main="kept")
        )
        kept_ids = out.kept | "ids" >> beam.FlatMap(lambda f: f["source_id"].to_list())
        assert_that(kept_ids, equal_to(["1"]), label="kept")
        reasons = out.rejected | "reasons" >> beam.FlatMap(
            lambda f: list(zip(f[SOURCE_ROW].to_list(), f["reason"].to_list(), strict=True))
        )
        assert_that(reasons, equal_to([(2, "missing_title"), (3, "invalid_date")]), label="rej")
        assert_that(
            out.counts,
            equal_to(
                [
                    (("pubmed", "read"), 3),
                    (("pubmed", "kept"), 1),
                    (("pubmed", "rejected:missing_title"), 1),
                    (("pubmed", "rejected:invalid_date"), 1),
                ]
            ),
            label="counts",
        )


def test_spelling_counts_sum_over_batches():
    one = pl.DataFrame({"journal": ["J", "j"], "len": [2, 1]}, schema_overrides={"len": pl.UInt32})
    two = pl.DataFrame({"journal": ["j"], "len": [3]}, schema_overrides={"len": pl.UInt32})
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        total = (
            p
            | beam.Create([one, two])
            | beam.CombineGlobally(SpellingCountsFn())
            | beam.FlatMap(lambda f: sorted(f.iter_rows()))
        )
        assert_that(total, equal_to([("J", 2), ("j", 4)]))
