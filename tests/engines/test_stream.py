"""The streaming engine (``run --engine stream``) writes the default engine's outputs, byte for
byte: graph.json, rejected_rows.jsonl and run_report.json."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import polars as pl
import pytest

from datapipeline import cli, engines, jobs
from datapipeline.engines import RunRequest, ranges
from datapipeline.engines.stream import run_stream
from tests.conftest import shared_path, write_folder
from tests.datagen import write_corpus

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
OUTPUTS = ("graph.json", "rejected_rows.jsonl", "run_report.json")


def _outputs(out: Path) -> dict[str, bytes]:
    """The three outputs; the report's output paths made relative to ``out``."""
    found = {name: (out / name).read_bytes() for name in OUTPUTS}
    found["run_report.json"] = found["run_report.json"].replace(str(out).encode(), b"OUT")
    return found


def assert_same_as_default(data: Path | None, tmp_path: Path, rows_per_bucket: int) -> dict:
    """Run both engines on ``data``; their outputs must be the same bytes. Returns the report."""
    jobs.run(data, str(tmp_path / "lake-default"), tmp_path / "default")
    run_stream(
        RunRequest(data, str(tmp_path / "lake-stream"), tmp_path / "stream"),
        rows_per_bucket=rows_per_bucket,
    )
    expected = _outputs(tmp_path / "default")
    got = _outputs(tmp_path / "stream")
    for name in OUTPUTS:
        assert got[name] == expected[name], f"{name} differs"
    return json.loads(got["run_report.json"])


def test_sample_data(tmp_path: Path) -> None:
    report = assert_same_as_default(None, tmp_path, rows_per_bucket=2)
    assert report["sources"]["clinical_trials"]["merged"] == 1


def test_servier_test_files(tmp_path: Path) -> None:
    data = shared_path("reference-data", "servier-test")
    assert_same_as_default(data, tmp_path, rows_per_bucket=3)


def test_generated_corpus_over_many_files_and_buckets(tmp_path: Path) -> None:
    """Duplicates across files (some without id) and many small buckets."""
    data = write_corpus(tmp_path / "data", titles=3000, files=5)
    report = assert_same_as_default(data, tmp_path, rows_per_bucket=40)
    assert report["sources"]["pubmed"]["merged"] > 50
    assert report["graph"]["publications"] > 1000


def test_benchmark_corpus_split_over_files(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("generate", REPO / "benchmarks" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    sys.modules["generate"] = generate
    spec.loader.exec_module(generate)
    manifest = generate.generate(tmp_path / "data", titles=20_000, drugs=300, files_per_source=3)
    assert manifest.defects["duplicates"] > 10
    report = assert_same_as_default(tmp_path / "data", tmp_path, rows_per_bucket=500)
    assert report["sources"]["pubmed"]["merged"] > 0


#: Merges and shared ids that cross files: id-less copies in other files, an id used by two
#: records in two files, one key with two ids and an id-less row (three records), an exact copy
#: without journal, a copy with a journal spelt otherwise (counts for the display name), and
#: clinical trials listed in two files.
CROSSING = {
    "drugs.csv": "atccode,drug\nA1,ATROPINE\nV1,ETHANOL\nB1,BETAMETHASONE\nZ1,ZOLPIDEM\n",
    "pubmed_a.csv": "id,title,date,journal\n"
    "1,Atropine study,2020-01-01,Journal One\n"
    "2,Ethanol effects,2020-02-01,Journal Two\n"
    "3,Betamethasone here,2020-03-01,Journal One\n"
    "5,Shared id title one ATROPINE,2020-01-05,journal one\n"
    "8,Nothing to see,2020-03-09,Journal Two\n",
    "pubmed_b.csv": "id,title,date,journal\n"
    ",ATROPINE STUDY,01/01/2020,journal one\n"
    "5,Shared id title two ethanol,2020-01-06,Journal Three\n"
    "7,Betamethasone here,2020-03-01,Journal Two\n"
    "2,Ethanol effects,2020-02-01,\n"
    "8,Nothing to see,2020-03-09,JOURNAL TWO\n",
    "pubmed_c.json": json.dumps(
        [
            {"id": "", "title": "Betamethasone here", "date": "2020-03-01", "journal": "J4"},
            {
                "id": 9,
                "title": "zolpidem, atropine",
                "date": "2021-01-01",
                "journal": "journal one",
            },
            {"id": "", "title": "Atropine study", "date": "2020-01-01", "journal": "journal one"},
        ]
    ),
    "clinical_trials_1.csv": "id,scientific_title,date,journal\n"
    "NCT1,Zolpidem at night,2020-05-01,Journal One\n"
    "NCT2,,2020-05-01,Journal One\n",
    "clinical_trials_2.csv": "id,scientific_title,date,journal\n"
    "NCT1,Zolpidem at night,1 May 2020,\n"
    ",Zolpidem at night,2020-05-01,Journal Two\n"
    "NCT3,Ethanol and zolpidem,2020-06-01,Journal Two\n",
}


def test_merges_and_shared_ids_across_files(tmp_path: Path) -> None:
    data = write_folder(tmp_path / "data", dict(CROSSING))
    report = assert_same_as_default(data, tmp_path, rows_per_bucket=1)
    assert report["sources"]["pubmed"]["merged"] == 4
    assert report["sources"]["clinical_trials"]["merged"] == 2
    graph = json.loads((tmp_path / "stream" / "graph.json").read_text(encoding="utf-8"))
    ids = [n["id"] for n in graph["nodes"]]
    assert sum(i.startswith("pubmed:5~") for i in ids) == 2  # one id, two records
    assert "pubmed:1" in ids
    assert "pubmed:2" in ids
    # per record 3 to 2 (per row, the two merged copies would make "journal one" win)
    assert "journal:Journal One" in ids
    assert "journal:journal one" not in ids


def test_cli_engine_stream_and_rerun(tmp_path: Path) -> None:
    """Through the CLI; a rerun imports nothing and writes the same outputs."""
    data = write_folder(tmp_path / "data", dict(CROSSING))
    args = ["run", "--engine", "stream", "--data-dir", str(data), "--lake", str(tmp_path / "lake")]
    assert cli.main([*args, "--output-dir", str(tmp_path / "first")]) == 0
    report = jobs.run(data, str(tmp_path / "lake"), tmp_path / "second", engine="stream")
    assert report.changes is not None
    assert report.changes.imported == []
    first, second = _outputs(tmp_path / "first"), _outputs(tmp_path / "second")
    assert first["graph.json"] == second["graph.json"]
    assert first["rejected_rows.jsonl"] == second["rejected_rows.jsonl"]


def test_repeated_marks_values_seen_twice_and_never_nulls() -> None:
    values = pl.Series([5, 1, None, 5, 2, None, 1, 7], dtype=pl.UInt64)
    assert ranges.repeated(values).to_list() == [
        True,
        True,
        False,
        True,
        False,
        False,
        True,
        False,
    ]


def test_buckets_are_ranges_of_the_sort_key() -> None:
    sample = pl.Series([f"pubmed:{i}" for i in range(100)])
    cuts = ranges.boundaries(sample, 4)
    assert cuts.len() == 3
    values = pl.Series(["a", "pubmed:0", "pubmed:55", "pubmed:99", "z"])
    buckets = ranges.bucket_of(cuts, values).to_list()
    assert buckets == sorted(buckets)
    assert buckets[0] == 0
    assert buckets[-1] == 3
    # every value of a bucket sorts before every value of the next one
    ordered = sample.sort()
    of = ranges.bucket_of(cuts, ordered)
    assert of.to_list() == sorted(of.to_list())


def test_empty_sources_and_parts_without_mentions(tmp_path: Path) -> None:
    """A header-only file, a part where nothing is mentioned, a kind with no mention at all."""
    files = {
        "drugs.csv": "atccode,drug\nA1,ATROPINE\n",
        "pubmed_1.csv": "id,title,date,journal\n",
        "pubmed_2.csv": "id,title,date,journal\n1,Nothing here,2020-01-01,J\n",
        "pubmed_3.json": '[{"id": 2, "title": "Atropine", "date": "2020-01-02", "journal": "J"}]',
        "clinical_trials.csv": "id,scientific_title,date,journal\nNCT1,No drug,2020-01-01,J\n",
    }
    data = write_folder(tmp_path / "data", files)
    report = assert_same_as_default(data, tmp_path, rows_per_bucket=1)
    assert report["graph"]["publications"] == 1


def test_auto_engine_streams_when_the_inputs_are_large_for_the_memory(tmp_path: Path) -> None:
    data = write_folder(
        tmp_path / "data",
        {
            "drugs.csv": "atccode,drug\nA,ETHANOL\n",
            "pubmed.csv": "id,title,date,journal\n" + "1,Ethanol,2020-01-01,J\n" * 100,
            "clinical_trials.csv": "id,scientific_title,date,journal\n",
        },
    )
    size = sum(p.stat().st_size for p in data.iterdir())
    factor = engines.LOCAL_ENGINE_MEMORY_FACTOR
    assert engines.choose_engine(data, memory=2 * size * factor + 2) == "local"
    assert engines.choose_engine(data, memory=2 * size * factor - 2) == "stream"
    assert engines.choose_engine(data, memory=0) == "local"  # memory unknown: no guess


def test_auto_engine_writes_what_both_engines_write(tmp_path: Path) -> None:
    data = write_corpus(tmp_path / "data", titles=300, seed=5)
    outputs = {}
    for engine in ("auto", "local", "stream"):
        out = tmp_path / engine
        jobs.run(data, str(tmp_path / f"lake-{engine}"), out, engine=engine)
        outputs[engine] = (out / "graph.json").read_bytes()
    assert outputs["auto"] == outputs["local"] == outputs["stream"]
