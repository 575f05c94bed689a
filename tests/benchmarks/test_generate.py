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
