"""The config folder from any current folder: --config-dir, $DATAPIPELINE_CONFIG_DIR, ./config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from datapipeline.cli import main
from datapipeline.config import CONFIG_DIR_ENV
from datapipeline.config_folder import ConfigFolder

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config"


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current folder outside the repository, without config/, and no config variable."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv(CONFIG_DIR_ENV, raising=False)
    return folder


def _tables(lake: Path) -> list[str]:
    return sorted(p.name for p in lake.iterdir())


def test_config_dir_flag_imports_the_repository_sources_from_any_folder(elsewhere: Path) -> None:
    """The sources' relative paths are the project root's (the folder holding config/)."""
    assert main(["--config-dir", str(CONFIG), "import"]) == 0
    assert _tables(elsewhere / "imported_data") == ["clinical_trials", "drugs", "pubmed"]


def test_config_dir_after_the_command_and_the_variable_work_too(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["import", "--config-dir", str(CONFIG), "--output_folder", "a"]) == 0
    monkeypatch.setenv(CONFIG_DIR_ENV, str(CONFIG))
    assert main(["import", "--source_id", "drugs", "--output_folder", "b"]) == 0
    assert _tables(elsewhere / "a") == ["clinical_trials", "drugs", "pubmed"]
    assert _tables(elsewhere / "b") == ["drugs"]


def test_a_config_file_named_relative_is_found_in_the_config_folder(elsewhere: Path) -> None:
    args = ["--config-dir", str(CONFIG), "import", "--config_file", "sales_to_import.yaml"]
    assert main(args) == 0
    assert _tables(elsewhere / "imported_data") == ["PRODUCT_NOMENCLATURE", "TRANSACTIONS"]


def test_env_paths_are_under_the_project_root(tmp_path: Path, elsewhere: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(CONFIG, project / "config")
    env = ConfigFolder.find(project / "config").environment("dv")
    assert env.lake == str(project / "imported_data")
    assert env.output == str(project / "processed_data")
    assert env.warehouse.path == str(project / "processed_data" / "warehouse.duckdb")
    prod = ConfigFolder.find(project / "config").environment("prod")
    assert prod.lake == "gs://my-company-datapipeline/imported_data"  # URLs kept as written


def test_run_needs_no_config_and_writes_in_the_current_folder(
    elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run"]) == 0
    assert (elsewhere / "processed_data" / "graph.json").is_file()
    assert "graph written to processed_data/graph.json" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["import"],
            "error: import (or import one file with --source): no config folder (looked for "
            f"config/ here); pass --config-dir DIR or set {CONFIG_DIR_ENV}",
        ),
        (
            ["run", "--env", "dv"],
            "error: --env dv: no config folder (looked for config/ here); pass --config-dir "
            f"DIR or set {CONFIG_DIR_ENV}",
        ),
        (
            ["--config-dir", "nowhere", "load"],
            "error: nowhere: config folder not found (given by --config-dir)",
        ),
        (
            ["--config-dir", str(CONFIG), "load", "--env", "pord"],
            "error: unknown environment 'pord': expected one of dv, prod; did you mean 'prod'?",
        ),
    ],
)
def test_a_missing_config_is_one_line_saying_where_it_was_looked_for(
    elsewhere: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == message
    assert list(elsewhere.iterdir()) == []


def test_a_missing_folder_named_by_the_variable_says_so(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(CONFIG_DIR_ENV, "gone")
    assert main(["process"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: gone: config folder not found (given by ${CONFIG_DIR_ENV})"
    )


def test_process_reads_the_config_folders_process_file(tmp_path: Path, elsewhere: Path) -> None:
    config = tmp_path / "project" / "config"
    shutil.copytree(CONFIG, config)
    text = (config / "file_to_process.yaml").read_text().replace("graph.json", "mentions.json")
    (config / "file_to_process.yaml").write_text(text)
    assert main(["--config-dir", str(CONFIG), "import", "--output_folder", "lake"]) == 0
    args = ["--config-dir", str(config), "process", "--input_folder", "lake"]
    assert main([*args, "--output_folder", "out"]) == 0
    graph = json.loads((elsewhere / "out" / "mentions.json").read_text())
    assert graph["graph"]["name"] == "drug_mentions"
