"""The lake's parts: many small files in one part, a large file in several, one key per source
shared by every command, nothing lost whatever the file names; the graph stays the graph a
full rebuild writes."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from datapipeline import jobs
from datapipeline.cli import main
from datapipeline.lake import Lake
from datapipeline.lake.parts import Manifest, SourceEntry
from datapipeline.run import imports
from datapipeline.run.sources import discover_sources, read_source
from tests.datagen import write_corpus, write_quirks

pytestmark = pytest.mark.e2e

PUBMED_HEADER = "id,title,date,journal\n"


def graph(out: Path) -> bytes:
    return (out / "graph.json").read_bytes()


def rebuild(data: Path, tmp_path: Path, name: str) -> bytes:
    out = tmp_path / f"full-{name}"
    jobs.run(data, str(tmp_path / f"lake-{name}"), out, full_refresh=True)
    return graph(out)


def report(out: Path) -> dict:
    return json.loads((out / "run_report.json").read_text(encoding="utf-8"))


def test_names_that_differ_only_in_letters_outside_ascii_are_two_sources(tmp_path: Path) -> None:
    data = write_quirks(tmp_path / "data")
    for name, pmid in [("pubmed_é.csv", 101), ("pubmed_ü.csv", 102), ("pubmed_e.csv", 103)]:
        (data / name).write_text(PUBMED_HEADER + f"{pmid},Ethanol {pmid},2020-01-01,J\n")
    out = tmp_path / "out"
    jobs.run(data, str(tmp_path / "lake"), out)
    held = Lake(tmp_path / "lake").manifest().sources("pubmed")
    assert {Path(f.entry.source).name for f in held} >= {"pubmed_é.csv", "pubmed_ü.csv"}
    nodes = {n["id"] for n in json.loads(graph(out))["nodes"]}
    assert {"pubmed:101", "pubmed:102", "pubmed:103"} <= nodes
    account = report(out)["sources"]["pubmed"]
    assert account["read"] == account["published"] + account["merged"] + account["rejected"]
    assert account["read"] == sum(f.entry.rows for f in held)


def test_many_small_files_share_a_part_and_a_large_one_is_cut(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "PACK_ROWS", 300)
    data = write_corpus(tmp_path / "data", titles=1200, files=2, seed=3)
    for i in range(40):
        (data / f"pubmed_small_{i:02d}.csv").write_text(
            PUBMED_HEADER + f"{9000 + i},Ethanol in small file {i},2020-01-01,J\n"
        )
    out = tmp_path / "out"
    jobs.run(data, str(tmp_path / "lake"), out)
    manifest = Lake(tmp_path / "lake").manifest()
    parts = {(t, p): entries for (t, p), (_, _, entries) in manifest.parts.items()}
    rows = {place: sum(e.rows for e in entries or []) for place, entries in parts.items()}
    assert max(rows.values()) <= 300  # a large file cut into parts of the target size
    assert len({p for t, p in parts if t == "pubmed"}) > 2
    smalls = [
        p
        for (t, p), entries in parts.items()
        if any("small" in Path(e.source).name for e in entries or [])
    ]
    assert len(smalls) <= 2  # forty one-row files in one part (or two, at a part's end)
    # cut or packed, the graph is the one a lake of whole files gives
    monkeypatch.setattr(imports, "PACK_ROWS", 10**9)
    assert graph(out) == rebuild(data, tmp_path, "whole")


def test_changed_renamed_and_touched_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = write_corpus(tmp_path / "data", titles=600, files=3, seed=8)
    lake, out = str(tmp_path / "lake"), tmp_path / "out"
    jobs.run(data, lake, out)
    read: list[str] = []
    original = imports.file_digest

    def hashing(path: str, chunk: int = 1 << 20) -> str:
        read.append(Path(path).name)
        return original(path, chunk)

    monkeypatch.setattr(imports, "file_digest", hashing)

    # touched: a new modification time, the same bytes: hashed, not read again
    touched = data / "clinical_trials.csv"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    again = jobs.run(data, lake, out)
    assert again.changes is not None
    assert again.changes.imported == []
    assert read == [touched.name]
    read.clear()
    assert jobs.run(data, lake, out).changes.unchanged  # type: ignore[union-attr]
    assert read == []  # the new time was kept: not hashed again

    # renamed: the old name's rows leave, the new name's come in
    pubmed = data / "pubmed_000.csv"
    renamed = pubmed.with_name("pubmed_renamed.csv")
    shutil.move(pubmed, renamed)
    changed = data / "pubmed_001.json"
    records = json.loads(changed.read_text())
    records[0]["title"] = "Atropine, a changed title"
    changed.write_text(json.dumps(records))
    result = jobs.run(data, lake, out)
    assert result.changes is not None
    assert sorted(Path(p).name for p in result.changes.imported) == [changed.name, renamed.name]
    assert [Path(p).name for p in result.changes.removed] == [pubmed.name]
    assert graph(out) == rebuild(data, tmp_path, "renamed")


def test_small_parts_are_packed_together_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "SMALL_PARTS", 3)
    data = write_quirks(tmp_path / "data")
    lake, out = str(tmp_path / "lake"), tmp_path / "out"
    jobs.run(data, lake, out)
    for day in range(5):  # a new file a day: a new small part each
        (data / f"pubmed_day{day}.csv").write_text(
            PUBMED_HEADER + f"{500 + day},Ethanol day {day},2020-01-0{day + 1},J\n"
        )
        jobs.run(data, lake, out)
        parts = list((Path(lake) / "pubmed").glob("*.parquet"))
        assert len(parts) <= 4
    assert graph(out) == rebuild(data, tmp_path, "days")


def one_row_files(folder: Path, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        (folder / f"pubmed_{i:05d}.csv").write_text(
            PUBMED_HEADER + f"{i},Ethanol {i},2020-01-01,J\n"
        )


def test_parts_full_of_sources_are_not_packed_again_however_few_their_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts of PACK_SOURCES one-row files are few rows each but full: a new file must not
    have every run repack them (it did, on 100,000 files: each rerun rewrote the lake)."""
    monkeypatch.setattr(imports, "PACK_SOURCES", 40)
    monkeypatch.setattr(imports, "SMALL_PART_SOURCES", 5)
    monkeypatch.setattr(imports, "SMALL_PARTS", 2)
    data = write_quirks(tmp_path / "data")
    one_row_files(data, 200)
    lake, out = str(tmp_path / "lake"), tmp_path / "out"
    jobs.run(data, lake, out)
    full = {p.name for p in (Path(lake) / "pubmed").glob("*.parquet")}
    assert len(full) >= 5
    one_row_files(data, 1, start=900)
    jobs.run(data, lake, out)
    after = {p.name for p in (Path(lake) / "pubmed").glob("*.parquet")}
    assert after > full  # one part added, none rewritten
    assert len(after - full) == 1
    assert graph(out) == rebuild(data, tmp_path, "full-parts")


def test_packing_many_sources_of_a_part_again_does_not_copy_the_part_for_each(
    tmp_path: Path,
) -> None:
    """The rows of a part read back are in the plain text layout; cast source by source, each
    source's slice copied the whole column (10,000 one-row sources: 3.6 GB)."""
    data = write_quirks(tmp_path / "data")
    one_row_files(data, 2000)
    lake = Lake(tmp_path / "lake")
    manifest = imports.import_changed(
        discover_sources(data), lake, imports.Changes(), read_source, lambda pack: None
    )
    ((table, part), (_, _, entries)), *_ = (
        item for item in manifest.parts.items() if len(item[1][2] or []) >= 2000
    )
    packer = imports.Packer(1)
    before = pa.total_allocated_bytes()
    rows, moved = imports.kept_rows(lake.read_part_table(lake.part_path(table, part)), entries)
    packs = [p for e in moved for p in packer.add(table, e, rows.slice(e.offset, e.rows))]
    packs += list(packer.flush())
    assert sum(p.data.num_rows for p in packs) == rows.num_rows >= 2000
    # the rows themselves are ~60 kB; a copy per source would be 2,000 × that
    assert pa.total_allocated_bytes() - before < 20 * rows.nbytes


def test_the_readme_steps_in_order_give_the_report_of_run_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)
    lake, out = tmp_path / "lake", tmp_path / "out"
    assert main(["run", "--lake", str(lake), "--output-dir", str(out)]) == 0
    alone = report(out)
    assert main(["import", "--output_folder", str(lake)]) == 0  # ./run_import.sh
    assert main(["process", "--input_folder", str(lake), "--output_folder", str(out)]) == 0
    assert report(out) == alone  # every source once, the repairs the run made listed
    assert alone["repairs"]  # the sample has two
    assert main(["run", "--lake", str(lake), "--output-dir", str(out)]) == 0
    assert report(out) == alone  # and the next run reads nothing: the same report, repairs too


def test_lake_ls_and_rm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_quirks(tmp_path / "data")
    lake = tmp_path / "lake"
    jobs.run(data, str(lake), tmp_path / "out")
    assert main(["lake", "ls", "--lake", str(lake)]) == 0
    listing = capsys.readouterr().out
    assert f"{data / 'pubmed.json'}" in listing
    assert "pubmed: 2 sources" in listing
    assert main(["lake", "rm", "pubmed", str(data / "pubmed.json"), "--lake", str(lake)]) == 0
    assert "1 sources removed" in capsys.readouterr().out
    held = [Path(f.entry.source).name for f in Lake(lake).manifest().sources("pubmed")]
    assert held == ["pubmed.csv"]
    assert main(["lake", "rm", "pubmed", "nothing.csv", "--lake", str(lake)]) == 2
    assert "not a source of table 'pubmed'" in capsys.readouterr().err


def test_the_newest_copy_of_a_source_is_read() -> None:
    """A run killed after writing a source's new part, before deleting its old one."""
    old = SourceEntry("k", "f.csv", "csv", offset=1, rows=2, generation=1)
    other = SourceEntry("o", "g.csv", "csv", offset=0, rows=1, generation=1)
    new = SourceEntry("k", "f.csv", "csv", offset=0, rows=3, generation=2)
    manifest = Manifest({("t", "a"): (1, 1, [other, old]), ("t", "b"): (1, 1, [new])})
    assert manifest.live("t") == [("a", [other]), ("b", [new])]
    assert Manifest.from_frame(manifest.to_frame()) == manifest


def test_a_killed_run_leaves_a_source_once(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    one = SourceEntry("k1", "a.csv", "csv", offset=0, rows=2, generation=1)
    two = SourceEntry("k2", "b.csv", "csv", offset=2, rows=1, generation=1)
    frame = pl.DataFrame({"title": ["a1", "a2", "b1"]})
    lake.write_part("pubmed", "old", frame.to_arrow(), [one, two])
    newer = SourceEntry("k2", "b.csv", "csv", offset=0, rows=1, generation=2)
    lake.write_part("pubmed", "new", pl.DataFrame({"title": ["b1 again"]}).to_arrow(), [newer])
    assert sorted(lake.read_frame("pubmed").get_column("title")) == ["a1", "a2", "b1 again"]
