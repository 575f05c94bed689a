"""End to end: the Beam engine writes the default engine's outputs, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.datagen import require_beam, shared_dir, write_corpus, write_quirks

require_beam()

from datapipeline import cli, jobs  # noqa: E402
from datapipeline.beam import run as beam_run  # noqa: E402
from datapipeline.run.outputs import current_folder  # noqa: E402
from tests.published import PUBLISHED  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


OUTPUTS = PUBLISHED


def _both(data: Path, tmp_path: Path, *beam_args: str) -> tuple[Path, Path]:
    local = tmp_path / "local"
    beam = tmp_path / "beam"
    jobs.run(data, str(tmp_path / "lake"), local)
    beam_run(["--data-dir", str(data), "--output-dir", str(beam), "--shards", "4", *beam_args])
    return local, beam


def _assert_same_outputs(local: Path, beam: Path) -> None:
    assert (beam / "graph.json").read_bytes() == (local / "graph.json").read_bytes()
    for name in ("graph_nodes.parquet", "graph_edges.parquet", "rejected_rows.jsonl"):
        assert (beam / name).read_bytes() == (local / name).read_bytes(), name
    reports = [json.loads((d / "run_report.json").read_text()) for d in (local, beam)]
    for report in reports:
        report.pop("outputs")
    assert reports[0] == reports[1]


def test_quirks_folder_gives_identical_outputs(tmp_path):
    data = write_quirks(tmp_path / "data")
    local, beam = _both(data, tmp_path)
    _assert_same_outputs(local, beam)
    graph = json.loads((beam / "graph.json").read_text())
    ids = {n["id"] for n in graph["nodes"]}
    # the id-less duplicate merged into pubmed:2; the escaped bytes decoded
    assert "pubmed:2" in ids
    assert not any(i.startswith("pubmed:~") for i in ids)
    titles = {n.get("title") for n in graph["nodes"]}
    assert "Betamethasone ñ Laminectomy" in titles
    report = json.loads((beam / "run_report.json").read_text())
    assert report["sources"]["pubmed"]["rejected_by_reason"] == {
        "blank_row": 1,
        "invalid_date": 1,
        "missing_title": 1,
    }


def test_reference_files_give_identical_outputs(tmp_path):
    local, beam = _both(shared_dir("reference-data/servier-test"), tmp_path)
    _assert_same_outputs(local, beam)


def test_generated_corpus_gives_identical_graph(tmp_path):
    data = write_corpus(tmp_path / "data", titles=4000, files=4)
    local, beam = _both(data, tmp_path, "--batch-rows", "700", "--rows-per-range", "200")
    _assert_same_outputs(local, beam)
    report = json.loads((beam / "run_report.json").read_text())
    assert report["sources"]["pubmed"]["merged"] > 50  # duplicates across files were merged
    assert report["graph"]["drug_publication_edges"] > 1000
    # the graph was written in many ranges, all gone once put together
    assert sorted(p.name for p in beam.iterdir()) == sorted([".runs", *OUTPUTS])
    published = current_folder(beam)
    assert published is not None
    assert sorted(p.name for p in (beam / ".runs").iterdir()) == sorted(["current", published.name])


def test_two_worker_processes_give_identical_outputs(tmp_path):
    """The DirectRunner with two SDK worker processes: each shuffle and each range crosses a
    process boundary, as on a cluster."""
    data = write_corpus(tmp_path / "data", titles=3000, files=3, seed=4)
    local, beam = _both(
        data,
        tmp_path,
        "--rows-per-range",
        "300",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    )
    _assert_same_outputs(local, beam)


def test_cli_engine_beam_passes_beam_options(tmp_path, capsys):
    data = write_quirks(tmp_path / "data")
    out = tmp_path / "out"
    code = cli.main(
        [
            "run",
            "--engine",
            "beam",
            "--runner",
            "DirectRunner",
            "--data-dir",
            str(data),
            "--output-dir",
            str(out),
            "--direct_num_workers=1",
        ]
    )
    assert code == 0
    assert "graph written to" in capsys.readouterr().out
    assert (out / "graph.json").stat().st_size > 0


def test_cli_rejects_beam_options_without_beam_engine(tmp_path, capsys):
    code = cli.main(["run", "--data-dir", str(tmp_path), "--runner", "DataflowRunner"])
    assert code == 2
    assert "--engine beam" in capsys.readouterr().err


def test_reader_error_is_one_clear_line(tmp_path, capsys):
    data = write_quirks(tmp_path / "data")
    (data / "pubmed_bad.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    code = cli.main(["run", "--engine", "beam", "--data-dir", str(data), "--output-dir", "x"])
    assert code == 2
    err = capsys.readouterr().err
    assert "pubmed_bad.csv: missing column" in err
