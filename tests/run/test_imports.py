"""Incremental runs: a rerun reads, cleans and matches only what changed, and writes the graph
a full rebuild writes, byte for byte."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from datapipeline import cli, jobs
from datapipeline.lake import MANIFEST_FILE, Lake
from datapipeline.run import sources
from tests.datagen import DRUGS, write_corpus, write_drugs, write_quirks

pytestmark = pytest.mark.e2e


@pytest.fixture
def reads(monkeypatch):
    """The source files read by the import step, in order."""
    seen: list[str] = []
    original = sources.read_source

    def counting(source):
        seen.append(Path(source.source).name)
        return original(source)

    monkeypatch.setattr(sources, "read_source", counting)
    return seen


def rebuild(data: Path, tmp_path: Path, name: str) -> bytes:
    """The graph of a full rebuild in a fresh lake."""
    out = tmp_path / f"full-{name}"
    jobs.run(data, str(tmp_path / f"lake-{name}"), out, full_refresh=True)
    return (out / "graph.json").read_bytes()


def test_new_files_are_the_only_ones_read_and_matched(tmp_path, reads):
    data = write_corpus(tmp_path / "data", titles=1500, files=3)
    held_back = data / "pubmed_002.csv"
    shutil.move(held_back, tmp_path / held_back.name)
    lake, out = str(tmp_path / "lake"), tmp_path / "out"

    first = jobs.run(data, lake, out)
    assert first.changes is not None
    assert sorted(reads) == [
        "clinical_trials.csv",
        "drugs.csv",
        "pubmed_000.csv",
        "pubmed_001.json",
    ]

    shutil.move(tmp_path / held_back.name, held_back)
    reads.clear()
    second = jobs.run(data, lake, out)
    assert reads == ["pubmed_002.csv"]
    assert second.changes is not None
    assert second.changes.imported == [str(held_back)]
    # only titles of the new file were matched (every other title came from the cache): they
    # are the one part this run wrote
    assert len(second.changes.matched_titles) == 1
    new_rows = len(held_back.read_text().splitlines()) - 1
    assert sum(second.changes.matched_titles.values()) <= new_rows
    assert (out / "graph.json").read_bytes() == rebuild(data, tmp_path, "all")

    reads.clear()
    third = jobs.run(data, lake, out)
    assert reads == []
    assert third.changes is not None
    assert third.changes.matched_titles == {}
    assert (out / "graph.json").read_bytes() == rebuild(data, tmp_path, "again")


def test_changed_drug_list_rematches_only_the_new_patterns(tmp_path, reads):
    data = write_quirks(tmp_path / "data")
    lake, out = str(tmp_path / "lake"), tmp_path / "out"
    jobs.run(data, lake, out)
    before = json.loads((out / "graph.json").read_text())
    assert not any(n["id"] == "drug:SURGERY" for n in before["nodes"])

    # one drug added, one removed
    write_drugs(data, [*DRUGS[1:], ("X1", "Surgery")])
    reads.clear()
    report = jobs.run(data, lake, out)
    assert reads == ["drugs.csv"]
    assert report.changes is not None
    assert report.changes.matched_titles == {}  # no title matched against every pattern
    assert report.changes.rematched  # the cached titles met the one new pattern
    assert all(patterns == 1 for _, patterns in report.changes.rematched.values())
    graph = (out / "graph.json").read_bytes()
    assert graph == rebuild(data, tmp_path, "drugs")
    edges = json.loads(graph)["edges"]
    assert any(e["source"] == "drug:Surgery" for e in edges)
    assert not any(e["source"] == "drug:DIPHENHYDRAMINE" for e in edges)


def test_removed_and_changed_files_drop_their_old_rows(tmp_path, reads):
    data = write_quirks(tmp_path / "data")
    lake, out = str(tmp_path / "lake"), tmp_path / "out"
    jobs.run(data, lake, out)
    assert "pubmed:9" in (out / "graph.json").read_text()  # from pubmed.json

    (data / "pubmed.json").unlink()
    csv = data / "clinical_trials.csv"
    csv.write_text(
        "id,scientific_title,date,journal\nNCT09,Ethanol again,2021-01-01,Psychopharmacology\n",
        encoding="utf-8",
    )
    reads.clear()
    report = jobs.run(data, lake, out)
    assert reads == ["clinical_trials.csv"]
    assert report.changes is not None
    assert report.changes.removed == [str(data / "pubmed.json")]
    graph = (out / "graph.json").read_text()
    assert "pubmed:9" not in graph
    assert "NCT01" not in graph
    assert "clinical_trial:NCT09" in graph
    assert graph.encode() == rebuild(data, tmp_path, "removed")
    held = {
        e.source
        for found in Lake(tmp_path / "lake").manifest().by_key("pubmed").values()
        for e in [found[0].entry]
    }
    assert held == {str(data / "pubmed.csv")}


def test_full_refresh_reads_everything_and_a_lost_part_is_reimported(tmp_path, reads):
    data = write_quirks(tmp_path / "data")
    lake, out = tmp_path / "lake", tmp_path / "out"
    jobs.run(data, str(lake), out)
    reads.clear()
    jobs.run(data, str(lake), out, full_refresh=True)
    assert sorted(reads) == ["clinical_trials.csv", "drugs.csv", "pubmed.csv", "pubmed.json"]

    for part in (lake / "pubmed").glob("*.parquet"):
        part.unlink()  # the lake lost the part of pubmed.csv and pubmed.json: both read again
    reads.clear()
    jobs.run(data, str(lake), out)
    assert sorted(reads) == ["pubmed.csv", "pubmed.json"]
    assert (out / "graph.json").read_bytes() == rebuild(data, tmp_path, "lost")


def test_cli_full_refresh_flag(tmp_path, capsys):
    data = write_quirks(tmp_path / "data")
    args = ["run", "--data-dir", str(data), "--lake", str(tmp_path / "lake")]
    args += ["--output-dir", str(tmp_path / "out")]
    assert cli.main(args) == 0
    assert cli.main(args) == 0
    assert "0 files imported, 4 unchanged" in capsys.readouterr().out
    assert cli.main([*args, "--full-refresh"]) == 0
    assert "full refresh: 4 files imported" in capsys.readouterr().out


def test_a_source_named_inputs_keeps_its_own_state(tmp_path: Path) -> None:
    """Database sources keep watermarks in _state/<source_id>.json; the run's state lives apart."""
    from datapipeline.lake import Lake

    data = write_quirks(tmp_path / "data")
    lake = Lake(tmp_path / "lake")
    lake.write_state("inputs", {"watermark": 41})
    jobs.run(data, str(tmp_path / "lake"), tmp_path / "out")
    assert lake.read_state("inputs") == {"watermark": 41}
    assert (tmp_path / "lake" / MANIFEST_FILE).is_file()


def test_a_rerun_cleans_only_the_parts_it_wrote(tmp_path, monkeypatch):
    from datapipeline.mentions import recipe

    data = write_corpus(tmp_path / "data", titles=400, files=3, seed=11)
    lake, out = str(tmp_path / "lake"), tmp_path / "out"
    first = jobs.run(data, lake, out, engine="local")
    cleaned: list[int] = []
    original = recipe.clean

    def counting(raw, kind):
        cleaned.append(raw.height)
        return original(raw, kind)

    monkeypatch.setattr(recipe, "clean", counting)
    jobs.run(data, lake, out, engine="local")
    # the first run cleaned its parts as it read them; the first to read them back caches them
    assert sum(cleaned) == first.accounts["pubmed"].read + first.accounts["clinical_trials"].read
    cleaned.clear()
    jobs.run(data, lake, out, engine="local")
    assert cleaned == []  # every part's clean step came from its cache
    (data / "pubmed_new.csv").write_text("id,title,date,journal\n99,Ethanol study,2020-01-01,J\n")
    jobs.run(data, lake, out, engine="local")
    assert cleaned == [1]  # the new file's one row
    assert (out / "graph.json").read_bytes() == rebuild(data, tmp_path, "one-more")
