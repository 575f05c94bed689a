"""`datapipeline check`: config and inputs validated without running, one line per problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from datapipeline.cli import main
from datapipeline.config import CONFIG_DIR_ENV
from tests.conftest import write_tiny_inputs

REPO = Path(__file__).resolve().parents[1]


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*"))


def test_the_repository_config_and_the_sample_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_DIR_ENV, raising=False)
    assert main(["--config-dir", str(REPO / "config"), "check", "--env", "prod"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    out = captured.out.splitlines()
    assert all(line.startswith("ok: ") for line in out)
    for name in ("dag_config.yaml", "file_to_import.yaml", "sales_to_import.yaml"):
        assert f"ok: {REPO / 'config' / name}: parses" in out
    sample = REPO / "src" / "datapipeline" / "sample_data"
    # the import config's sources and the data folder's files, each opened by its reader
    assert f"ok: {sample / 'sales' / 'transactions.csv'}: 14 rows (csv, transactions)" in out
    assert (
        f"ok: {sample / 'pubmed.json'}: 4 rows (json, pubmed, repaired: trailing_comma_ignored)"
        in out
    )
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_every_problem_is_one_error_line_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    config = project / "config"
    shutil.copytree(REPO / "config", config)
    # 1. an unknown key in the process config
    (config / "file_to_process.yaml").write_text("graph_fil: g.json\n")
    # 2. an import config naming a file that does not exist (relative: under the project)
    (config / "extra_to_import.yaml").write_text(
        "sources:\n  - {source_id: d, source_type: csv, source: in/drugs.csv, dest_table: drugs}\n"
    )
    data = write_tiny_inputs(tmp_path / "data")
    # 3. no clinical trials file (the run would stop there: its files are not read)
    (data / "clinical_trials.csv").unlink()
    # the repository's own sources are relative to the repository: point them there
    (config / "file_to_import.yaml").unlink()
    (config / "sales_to_import.yaml").unlink()
    before = _files(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--config-dir", str(config), "--data-dir", str(data)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"error: {project / 'in' / 'drugs.csv'}: file not found",
        f"error: {config / 'file_to_process.yaml'}: graph_fil: unknown key; did you mean "
        "'graph_file'?",
        f"error: {data}: no clinical_trials source: expected a file named clinical_trials*.csv "
        "or nct*.json or ctgov*.json",
    ]
    assert _files(tmp_path) == before


def test_a_file_its_reader_refuses_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_DIR_ENV, raising=False)
    data = write_tiny_inputs(tmp_path / "data")
    (data / "drugs.csv").write_text("atccode,medicine\nA1,ETHANOL\n")
    (data / "pubmed.json").write_text('[{"id": 1, "title": "x",\n')
    assert main(["check", "--data_dir", str(data)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"error: {data / 'drugs.csv'}: missing column 'drug' or 'name' or 'drug_name' for "
        "drugs; found columns: atccode, medicine",
        f"error: {data / 'pubmed.json'}: line 2 column 1: invalid JSON (Expecting property "
        "name enclosed in double quotes)",
    ]
