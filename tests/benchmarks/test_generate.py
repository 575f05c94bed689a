"""The benchmark's input generator: layout, headers, counts, determinism."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import polars as pl
import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "generate.py"
_spec = importlib.util.spec_from_file_location("bench_generate", _PATH)
assert _spec
assert _spec.loader
generate_module = importlib.util.module_from_spec(_spec)
sys.modules["bench_generate"] = generate_module
_spec.loader.exec_module(generate_module)
generate = generate_module.generate


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_files_headers_and_counts(tmp_path: Path) -> None:
    manifest = generate(tmp_path, titles=2_000, drugs=80, files_per_source=2, seed=7)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "clinical_trials_01.csv",
        "clinical_trials_02.csv",
        "drugs_01.csv",
        "drugs_02.csv",
        "manifest.json",
        "pubmed_01.csv",
        "pubmed_01.json",
        "pubmed_02.csv",
        "pubmed_02.json",
    ]
    headers = {
        "drugs_01.csv": "atccode,drug",
        "pubmed_02.csv": "id,title,date,journal",
        "clinical_trials_01.csv": "id,scientific_title,date,journal",
    }
    for name, header in headers.items():
        assert (tmp_path / name).read_text(encoding="utf-8").splitlines()[0] == header
    drugs = pl.read_csv(tmp_path / "drugs*.csv", infer_schema=False)
    assert drugs.height == 80
    assert drugs.get_column("drug").n_unique() == 80
    records = json.loads((tmp_path / "pubmed_01.json").read_text().replace(",\n]", "\n]"))
    assert set(records[0]) == {"id", "title", "date", "journal"}
    # Every title row written (defects included) is accounted for in the manifest.
    pubmed_csv = pl.read_csv(tmp_path / "pubmed*.csv", infer_schema=False)
    assert pubmed_csv.height == manifest.rows["pubmed_csv"]
    defects = sum(manifest.defects.values())
    written = sum(v for k, v in manifest.rows.items() if k != "drugs")
    assert written == 2_000 + defects
    lengths = pubmed_csv.drop_nulls("title").select(
        pl.col("title").str.strip_chars().str.split(" ").list.len()
    )
    assert lengths.to_series().min() >= 8


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    for folder, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate(tmp_path / folder, titles=500, drugs=30, seed=seed)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    assert _digests(tmp_path / "a")["pubmed.csv"] != _digests(tmp_path / "c")["pubmed.csv"]


@pytest.mark.e2e
def test_the_job_finds_exactly_the_planted_mentions(tmp_path: Path) -> None:
    """Traps (``methanol`` for ETHANOL) must not match; every planted spelling must."""
    from datapipeline import jobs

    manifest = generate(tmp_path / "data", titles=3_000, drugs=200, seed=11)
    report = jobs.run(tmp_path / "data", str(tmp_path / "lake"), tmp_path / "out")
    assert report.graph["drug_publication_edges"] == manifest.planted_mentions
    assert report.graph["publications"] == manifest.titles_with_mentions
    assert (
        report.accounts["pubmed"].published + report.accounts["clinical_trials"].published == 3_000
    )


def test_chunk_sizes_cover_the_titles_evenly() -> None:
    assert generate_module.chunk_sizes(10, 4) == [3, 3, 4]
    assert generate_module.chunk_sizes(8, 4) == [4, 4]
    assert generate_module.chunk_sizes(0, 4) == [0]
    assert sum(generate_module.chunk_sizes(36_000_000, 2_000_000)) == 36_000_000
    assert len(generate_module.chunk_sizes(36_000_000, 2_000_000)) == 18


def test_a_corpus_of_one_chunk_does_not_depend_on_the_chunk_size(tmp_path: Path) -> None:
    generate(tmp_path / "a", titles=900, drugs=40, files_per_source=2, chunk_titles=900)
    generate(tmp_path / "b", titles=900, drugs=40, files_per_source=2, chunk_titles=10**9)
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")


@pytest.mark.e2e
def test_a_corpus_of_many_chunks_matches_its_manifest(tmp_path: Path) -> None:
    """Chunks of 1,500 titles: own files per chunk, ids unique, the manifest's counts exact."""
    from datapipeline import jobs

    data = tmp_path / "data"
    manifest = generate(
        data, titles=6_000, drugs=200, files_per_source=2, seed=5, chunk_titles=1_500
    )
    # 4 chunks × ceil(2 / 4) = 1 file per chunk and source: 4 files per publication source.
    assert manifest.files["pubmed_csv"] == [f"pubmed_0{i}.csv" for i in range(1, 5)]
    assert manifest.files["clinical_trials"] == [f"clinical_trials_0{i}.csv" for i in range(1, 5)]
    assert manifest.files["drugs"] == ["drugs_01.csv", "drugs_02.csv"]
    on_disk = sorted(p.name for p in data.iterdir() if p.name != "manifest.json")
    assert on_disk == sorted(name for names in manifest.files.values() for name in names)

    csv = pl.read_csv(data / "pubmed*.csv", infer_schema=False)
    trials = pl.read_csv(data / "clinical_trials*.csv", infer_schema=False)
    assert csv.height == manifest.rows["pubmed_csv"]
    assert trials.height == manifest.rows["clinical_trials"]
    written = sum(v for k, v in manifest.rows.items() if k != "drugs")
    assert written == 6_000 + sum(manifest.defects.values())
    assert manifest.defects["duplicates"] > 0
    # Ids are unique across chunks: the only repeated ids are the planted exact duplicates.
    ids = pl.concat(
        [
            csv.select("id"),
            trials.select(pl.col("id").str.strip_prefix("NCT").str.strip_chars_start("0")),
        ]
    ).drop_nulls()
    repeated = ids.height - ids.n_unique()
    assert 0 < repeated <= manifest.defects["duplicates"]
    # Each chunk draws its own titles: no two chunk files share their first titles.
    firsts = [
        pl.read_csv(data / name, infer_schema=False).get_column("title").drop_nulls().head(20)
        for name in manifest.files["pubmed_csv"]
    ]
    assert len(set(pl.concat(firsts).to_list())) == 80

    report = jobs.run(data, str(tmp_path / "lake"), tmp_path / "out")
    assert report.graph["drug_publication_edges"] == manifest.planted_mentions
    assert report.graph["publications"] == manifest.titles_with_mentions
    published = report.accounts["pubmed"].published + report.accounts["clinical_trials"].published
    assert published == 6_000
