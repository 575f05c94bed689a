"""The command line: the main job, the seed's import flags, errors as one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datapipeline.cli import main
from datapipeline.errors import ConfigError
from datapipeline.lake import Lake
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
    # (the run folders behind them are hidden: .runs/, see datapipeline.run.outputs)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
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
    argv = [
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
    assert main(argv) == 0
    assert len(list((lake / "drugs").glob("*.parquet"))) == 1
    # the part names its one source, by the file's absolute path
    (found,) = Lake(lake).manifest().sources("drugs")
    assert (found.entry.key, found.entry.rows) == (str(source.resolve()), 1)
    # importing it again replaces its rows
    assert main(argv) == 0
    assert [f.entry.rows for f in Lake(lake).manifest().sources("drugs")] == [1]


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


# --- arguments as a new user types them -------------------------------------------------------


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The last stderr line of an argparse error (exit status 2)."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["run", "--data_dri", "x"],
            "datapipeline run: error: unrecognized arguments: --data_dri x; "
            "did you mean '--data_dir'?",
        ),
        (
            ["run", "--ouptut-dir", "x"],
            "datapipeline run: error: unrecognized arguments: --ouptut-dir x; "
            "did you mean '--output-dir'?",
        ),
        (["run", "-q"], "datapipeline run: error: unrecognized argument -q"),
        (
            ["run", "--project", "p"],
            "datapipeline run: error: unrecognized arguments: --project p (options that are "
            "not run's go to Beam, with --engine beam only)",
        ),
        (
            ["rnu"],
            "datapipeline: error: argument COMMAND: invalid choice: 'rnu' (choose from run, "
            "check, import, process, load, lake, sql, top-journals, related-drugs, show); "
            "did you mean 'run'?",
        ),
        (
            ["run", "--engine", "bema"],
            "datapipeline run: error: argument --engine: invalid choice: 'bema' (choose from "
            "auto, local, stream, beam); did you mean 'beam'?",
        ),
        (
            ["top-journals", "g.json", "--env", "dv"],
            "datapipeline top-journals: error: unrecognized arguments: --env dv",
        ),
    ],
)
def test_unknown_arguments_are_usage_errors_with_did_you_mean(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _usage_error(argv, capsys) == line


def test_run_takes_the_underscore_spellings_and_global_flags_before_it(
    write_data: WriteData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_data({"drugs.csv": "atccode,drug\nA1,ETHANOL\n"})
    out, lake = tmp_path / "out", tmp_path / "lake"
    args = ["--data_dir", str(data), "--output_dir", str(out), "--lake", str(lake)]
    assert main(["--debug", "run", *args, "--full_refresh"]) == 0
    assert (out / "graph.json").is_file()
    assert "graph: 1 drugs" in capsys.readouterr().out
    with pytest.raises(Exception, match="graph file not found"):  # --debug before: traceback
        main(["--debug", "top-journals", str(tmp_path / "missing.json")])


def test_options_go_to_beam_only_with_engine_beam(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from datapipeline import jobs

    given: list[list[str]] = []

    def fake_run(*_: object, beam_args: list[str], **__: object) -> object:
        given.append(list(beam_args))
        raise ConfigError("stop here")

    monkeypatch.setattr(jobs, "run", fake_run)
    beam = ["run", "--engine", "beam", "--output-dir", str(tmp_path)]
    assert main([*beam, "--runner", "DirectRunner", "--project", "p", "--region=r", "--x_y"]) == 2
    assert given == [["--runner=DirectRunner", "--project", "p", "--region=r", "--x_y"]]
    # one of run's own flags mistyped is not sent to Beam
    line = _usage_error([*beam, "--output_dri", "o"], capsys)
    assert (
        line
        == "datapipeline run: error: unrecognized argument --output_dri; did you mean '--output_dir'?"
    )


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from datapipeline import __version__

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"datapipeline {__version__}\n"


def test_env_is_offered_only_where_it_is_used() -> None:
    """--env sets the lake, output folder or warehouse: commands reading only a graph file
    do not take it."""
    from datapipeline.cli import build_parser

    parser = build_parser()
    commands = ["run", "check", "import", "process", "load", "sql"]
    commands += ["top-journals", "related-drugs", "show"]
    # positionals filled with placeholders: only which options exist is looked at
    takes_env = {c for c in commands if hasattr(parser.parse_known_args([c, "g", "d"])[0], "env")}
    assert takes_env == {"run", "check", "import", "process", "load", "sql"}


def test_load_of_an_empty_lake_is_one_line_and_creates_no_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATAPIPELINE_CONFIG_DIR", raising=False)
    assert main(["load"]) == 2
    assert capsys.readouterr().err == (
        "error: imported_data: no table to load (the lake is empty: run the import)\n"
    )
    assert list(tmp_path.iterdir()) == []
