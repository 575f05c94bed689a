"""The Beam steps on their own, with TestPipeline and assert_that."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import polars as pl

from tests.datagen import require_beam

beam = require_beam()

from apache_beam.testing import test_pipeline  # noqa: E402
from apache_beam.testing.util import assert_that, equal_to  # noqa: E402

from datapipeline.beam.coders import FrameCoder  # noqa: E402
from datapipeline.beam.outputs import joined_ranges  # noqa: E402
from datapipeline.beam.transforms import (  # noqa: E402
    AccountsFn,
    ConcatFn,
    KeysFn,
    MatchAndSplitFn,
    MergeFn,
    Ranges,
    SpellingCountsFn,
    WrittenRange,
    repeated_keys,
    write_lines,
)
from datapipeline.kernels.node_link import render_node_link  # noqa: E402
from datapipeline.mentions import recipe  # noqa: E402
from datapipeline.mentions.recipe import SourceAccount  # noqa: E402
from datapipeline.run.report import GraphSummary  # noqa: E402
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


def drugs(*names: str) -> recipe.PreparedDrugs:
    return recipe.prepare_drugs(
        pl.DataFrame(
            {
                "atccode": list(names),
                "name": list(names),
                SOURCE_FILE: "d",
                SOURCE_ROW: [1] * len(names),
            }
        )
    )


def test_duplicates_in_two_batches_meet_in_one_merge_group():
    # batch b holds the id-less copy of a's first row: they merge whatever the shard order
    a = raw([("1", "Acid study", "2020-01-01", None), ("2", "Other", "2020-01-01", "J")], "a")
    b = raw([(None, "ACID study", "01/01/2020", "Journal"), ("3", "Other", "2020-01-01", "K")], "b")
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        side = beam.pvalue.AsSingleton(p | "drugs" >> beam.Create([drugs("ACID")]))
        batches = p | "batches" >> beam.Create([("pubmed", b), ("pubmed", a)])
        keyed = batches | beam.ParDo(KeysFn(shards=3)).with_outputs(
            "rejected", "accounts", main="keys"
        )
        repeated = beam.pvalue.AsSingleton(
            keyed.keys
            | "key shards" >> beam.GroupByKey()
            | beam.FlatMap(repeated_keys)
            | beam.CombineGlobally(ConcatFn())
        )
        split = batches | beam.ParDo(MatchAndSplitFn(shards=3), side, repeated).with_outputs(
            "nodes", "spellings", "accounts", "sample", main="candidates"
        )
        merged = (
            split.candidates
            | "merge groups" >> beam.GroupByKey()
            | beam.ParDo(MergeFn(shards=3), repeated).with_outputs(
                "nodes", "spellings", "accounts", main="ids"
            )
        )
        accounts = (
            (split.accounts, merged.accounts) | beam.Flatten() | beam.CombineGlobally(AccountsFn())
        )
        # 1 and its id-less copy are one record; 2 and 3 stay apart (two ids, one title)
        assert_that(
            accounts,
            equal_to([{"pubmed": SourceAccount(published=3, merged=1)}]),
            label="accounts",
        )
        nodes = (split.nodes, merged.nodes) | "all nodes" >> beam.Flatten()
        mentioned = nodes | "ids" >> beam.FlatMap(
            lambda f: f.select("id", "journal", "_mentions").rows()
        )
        # the record keeps the first row's mentions and takes the copy's journal
        assert_that(mentioned, equal_to([("pubmed:1", "Journal", ["drug:ACID"])]), label="nodes")


def test_the_first_pass_gives_rejected_rows_accounts_and_the_kept_rows_keys():
    batch = raw(
        [("1", "A acid", "2020-01-01", "J"), ("2", None, "2020-01-01", "J"), ("3", "B", "x", "J")],
        "f",
    )
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        out = (
            p
            | beam.Create([("pubmed", batch)])
            | beam.ParDo(KeysFn(shards=2)).with_outputs("rejected", "accounts", main="keys")
        )
        # the one kept row: a merge key hash and an id hash
        kinds = out.keys | "kinds" >> beam.FlatMap(lambda shard: shard[1]["of"].to_list())
        assert_that(kinds, equal_to([0, 1]), label="keys")
        reasons = out.rejected | "reasons" >> beam.FlatMap(
            lambda f: list(zip(f[SOURCE_ROW].to_list(), f["reason"].to_list(), strict=True))
        )
        assert_that(reasons, equal_to([(2, "missing_title"), (3, "invalid_date")]), label="rej")
        expected = SourceAccount(
            read=3, rejected=2, rejected_by_reason={"missing_title": 1, "invalid_date": 1}
        )
        assert_that(out.accounts, equal_to([{"pubmed": expected}]), label="accounts")


def test_the_second_pass_matches_and_makes_lone_rows_records_on_the_spot():
    batch = raw(
        [("1", "A acid", "2020-01-01", "J"), ("2", None, "2020-01-01", "J"), ("3", "B", "x", "J")],
        "f",
    )
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        side = beam.pvalue.AsSingleton(p | "drugs" >> beam.Create([drugs("ACID")]))
        no_repeats = beam.pvalue.AsSingleton(p | "repeated" >> beam.Create([None]))
        out = (
            p
            | beam.Create([("pubmed", batch)])
            | beam.ParDo(MatchAndSplitFn(shards=2), side, no_repeats).with_outputs(
                "nodes", "spellings", "accounts", "sample", main="candidates"
            )
        )
        nodes = out.nodes | "ids" >> beam.FlatMap(lambda f: f.select("id", "_mentions").rows())
        assert_that(nodes, equal_to([("pubmed:1", ["drug:ACID"])]), label="nodes")
        # the rejected rows are the first pass's: here only the kept row is counted
        assert_that(
            out.accounts, equal_to([{"pubmed": SourceAccount(published=1)}]), label="accounts"
        )
        assert_that(out.candidates, equal_to([]), label="candidates")


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


def test_node_ranges_keep_drugs_and_journals_apart():
    sample = pl.DataFrame(
        {
            "id": [f"pubmed:{i}" for i in range(300)] + [f"clinical_trial:{i}" for i in range(300)],
            "drug_id": [f"drug:{i % 40}" for i in range(600)],
        }
    )
    ranges = Ranges.from_sample(sample, rows_per_range=64 * 100)  # about six ranges
    drug, journal = ranges.node_range("drug:X"), ranges.node_range("journal:Y")
    assert journal == drug + 1
    for node in ["clinical_trial:5", "pubmed:0", "pubmed:299"]:
        assert ranges.node_range(node) not in (drug, journal)
    assert ranges.edges.len() > 2
    assert Ranges.from_sample(None, 10).edges.is_empty()  # nothing mentioned: one edge range


def test_ranges_joined_are_the_document_rendered_whole(tmp_path: Path):
    nodes = pl.DataFrame({"id": [f"n{i}" for i in range(7)], "type": "x"})
    edges = pl.DataFrame({"source": ["a", "b", "c"], "target": ["n1", "n2", "n3"]})
    expected = b"".join(render_node_link([nodes], [edges]))
    written = []
    # ranges of uneven sizes, some empty, given out of order
    for section, frame, cuts in (
        ("nodes", nodes, [0, 0, 3, 4, 7, 7]),
        ("edges", edges, [0, 2, 2, 3]),
    ):
        for index, (start, end) in enumerate(itertools.pairwise(cuts)):
            path = str(tmp_path / f"{section}-{index}")
            write_lines(path, [frame.slice(start, end - start)])
            written.append(WrittenRange(section, index, path, GraphSummary()))
    joined = b"".join(joined_ranges(reversed(written)))
    assert joined == expected
    assert json.loads(joined)["edges"][-1] == {"source": "c", "target": "n3"}


def test_frames_travel_whole():
    coder = FrameCoder()
    frame = pl.DataFrame(
        {"text": ["é", None, "a" * 40], "mentions": [["drug:A"], None, []], "n": [1, 2, 3]},
        schema_overrides={"n": pl.UInt32},
    )
    for value in (frame, frame.head(0), frame.slice(1, 2)):
        decoded = coder.decode(coder.encode(value))
        assert decoded.equals(value)
        assert decoded.schema == value.schema


def test_files_read_ahead_all_reach_the_next_step_with_their_repairs(tmp_path: Path):
    """Each file is read while the one before is processed: every file's rows and repairs
    come out, the last file's when the bundle ends."""
    from datapipeline.beam.transforms import ReadSourceFn
    from datapipeline.config import Source

    sources = []
    for index in range(3):
        path = tmp_path / f"pubmed_{index}.json"
        records = [
            {"id": f"{index}-{row}", "title": "T", "date": "2020-01-01", "journal": "J"}
            for row in range(index + 2)
        ]
        text = json.dumps(records)
        path.write_text(text[:-1] + ",]" if index == 1 else text)  # a trailing comma
        sources.append(
            Source(source_id=f"p{index}", source_type="json", source=str(path), dest_table="pubmed")
        )
    with test_pipeline.TestPipeline(runner="FnApiRunner") as p:
        read = (
            p
            | beam.Create(sources)
            | beam.ParDo(ReadSourceFn(batch_rows=2)).with_outputs("repairs", main="rows")
        )
        ids = read.rows | "ids" >> beam.FlatMap(lambda row: row[1]["source_id"].to_list())
        expected = [f"{i}-{r}" for i in range(3) for r in range(i + 2)]
        assert_that(ids, equal_to(expected), label="rows")
        batches = read.rows | "sizes" >> beam.Map(lambda row: (row[0], row[1].height <= 2))
        assert_that(batches, equal_to([("pubmed", True)] * 5), label="batches")
        assert_that(
            read.repairs,
            equal_to([(str(tmp_path / "pubmed_1.json"), "trailing_comma_ignored")]),
            label="repairs",
        )
