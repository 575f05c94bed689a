"""The command line: the main job, the seed's import flags, errors as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datapipeline.cli import main
from tests.conftest import WriteData

REPO = Path(__file__).resolve().parents[1]


def test_run_writes_graph_report_and_rejected_rows(
    write_data: WriteData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_data(
        {
            "drugs.csv": "atccode,drug\nA1,ETHANOL\nA2,ATROPINE\n",
            "pubmed.csv": "id,title,date,journal\n1,Ethanol study,01/02/2020,J\n2,,01/02/2020,J\n",
            "pubmed_2.json": '[{"id": 3, "title": "Atropine", "date": "2020-03-04", "journal": "K"},]',
        }
    )
    out = tmp_path / "out"
    code = main(
        ["run", "--data-dir", str(data), "--output-dir", str(out), "--lake", str(tmp_path / "lake")]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "graph.json",
        "graph_edges.parquet",
        "graph_nodes.parquet",
        "rejected_rows.jsonl",
        "run_report.json",
    ]
    report = json.loads((out / "run_report.json").read_text())
    assert report["sources"]["pubmed"]["read"] == 3
    assert report["sources"]["pubmed"]["rejected_by_reason"] == {"missing_title": 1}
    rejected = [json.loads(line) for line in (out / "rejected_rows.jsonl").read_text().splitlines()]
    assert rejected == [
        {
            "table": "pubmed",
            "file": str(data / "pubmed.csv"),
            "row": 2,
            "reason": "missing_title",
            "record": {"source_id": "2", "title": None, "date": "01/02/2020", "journal": "J"},
        }
    ]
    summary = capsys.readouterr().out
    assert "2 mentions" in summary
    assert "graph written to" in summary


def test_a_source_with_no_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "drugs.csv").write_text("atccode,drug\n")
    code = main(
        [
            "run",
            "--data-dir",
            str(data),
            "--output-dir",
            str(tmp_path / "o"),
            "--lake",
            str(tmp_path / "l"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {data}: no pubmed source: expected a file named pubmed*.csv or pubmed*.json or pubmed*.xml or pubmed*.xml.gz"
    ]


def test_missing_column_names_file_and_column(
    write_data: WriteData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_data({"pubmed.csv": "id,headline,date,journal\n1,x,01/01/2020,J\n"})
    code = main(
        [
            "run",
            "--data-dir",
            str(data),
            "--output-dir",
            str(tmp_path / "o"),
            "--lake",
            str(tmp_path / "l"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "pubmed.csv: missing column 'title' or 'article_title' for pubmed" in err
    assert "Traceback" not in err


def test_errors_print_one_line_without_traceback_from_the_real_command(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "datapipeline.cli", "top-journals", str(tmp_path / "missing.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"error: {tmp_path / 'missing.json'}: graph file not found (run `datapipeline run` first)"
    )


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="graph file not found"):
        main(["top-journals", str(tmp_path / "missing.json"), "--debug"])


def test_import_one_source_with_the_seed_flags(tmp_path: Path) -> None:
    source = tmp_path / "drugs.csv"
    source.write_text("atccode,drug\nA1,ETHANOL\n")
    lake = tmp_path / "lake"
    code = main(
        [
            "import",
            "--source_type",
            "csv",
            "--source",
            str(source),
            "--dest_table",
            "drugs",
            "--output-folder",
            str(lake),
        ]
    )
    assert code == 0
    assert [p.name for p in (lake / "drugs").iterdir()] == ["drugs.csv.parquet"]


def test_import_from_config_then_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    lake, out = tmp_path / "lake", tmp_path / "out"
    assert (
        main(
            ["import", "--config_file", "config/file_to_import.yaml", "--output_folder", str(lake)]
        )
        == 0
    )
    assert sorted(p.name for p in lake.iterdir()) == ["clinical_trials", "drugs", "pubmed"]
    assert main(["process", "--input-folder", str(lake), "--output-folder", str(out)]) == 0
    assert (out / "graph.json").is_file()


def test_seed_scripts_match_the_main_job(tmp_path: Path) -> None:
    """run_import.sh then run_process.py (in a copy of the repo's config) equal `run`."""
    env = {**os.environ, "DATAPIPELINE": str(Path(sys.executable).parent / "datapipeline")}
    work = tmp_path / "work"
    work.mkdir()
    lake, out = tmp_path / "lake", tmp_path / "out"
    subprocess.run(
        [str(REPO / "run_import.sh"), "--output_folder", str(lake)],
        check=True,
        env=env,
        capture_output=True,
    )
    subprocess.run(
        [
            sys.executable,
            str(REPO / "run_process.py"),
            "--input_folder",
            str(lake),
            "--output_folder",
            str(out),
        ],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    main(["run", "--output-dir", str(tmp_path / "ref"), "--lake", str(tmp_path / "ref-lake")])
    assert (out / "graph.json").read_bytes() == (tmp_path / "ref" / "graph.json").read_bytes()


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("run", "import", "process", "top-journals", "related-drugs"):
        assert command in text


def test_progress_is_silent_off_a_terminal_and_a_bar_on_one(
    write_data: WriteData, tmp_path: Path
) -> None:
    import io

    from datapipeline.progress import TerminalProgress

    data = write_data({"pubmed_2.csv": "id,title,date,journal\n"})
    quiet, bar = io.StringIO(), io.StringIO()
    from datapipeline import jobs

    jobs.run(data, str(tmp_path / "l1"), tmp_path / "o1", progress=TerminalProgress(quiet))
    jobs.run(
        data, str(tmp_path / "l2"), tmp_path / "o2", progress=TerminalProgress(bar, enabled=True)
    )
    assert quiet.getvalue() == ""  # a StringIO is not a terminal
    shown = bar.getvalue()
    assert "import  [" in shown
    assert "] 5/5" in shown  # drugs, 2 pubmed CSV, pubmed JSON, clinical trials
    assert "write graph" in shown
