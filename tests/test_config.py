"""Config files: the repo's own parse, and errors name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from datapipeline.config import DagConfig, ImportConfig, ProcessConfig, ProjectsList, load_file
from datapipeline.errors import ConfigError

CONFIG = Path(__file__).resolve().parents[1] / "config"


def test_repository_config_files_parse() -> None:
    projects = load_file(CONFIG / "projects_list.json", ProjectsList)
    dag = load_file(CONFIG / "dag_config.yaml", DagConfig)
    imports = load_file(CONFIG / "file_to_import.yaml", ImportConfig)
    process = load_file(CONFIG / "file_to_process.yaml", ProcessConfig)
    assert projects.projects[0].dag_types == ["import", "process", "orchestrator"]
    assert dag.environment("dv").warehouse.backend == "duckdb"
    assert {s.dest_table for s in imports.sources} == {"drugs", "pubmed", "clinical_trials"}
    assert process.graph_file == "graph.json"
    for source in imports.sources:
        assert (CONFIG.parent / source.source).is_file()


def test_missing_key_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "file_to_import.yaml"
    path.write_text("sources:\n  - source_id: a\n    source: x.csv\n    dest_table: drugs\n")
    with pytest.raises(
        ConfigError, match=r"file_to_import\.yaml: sources\[0\]\.source_type: Field required"
    ):
        load_file(path, ImportConfig)


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dag_config.yaml"
    path.write_text("defaults:\n  retrys: 3\n")
    with pytest.raises(ConfigError, match=r"dag_config\.yaml: defaults\.retrys: unknown key"):
        load_file(path, DagConfig)


def test_unsafe_table_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "i.yaml"
    path.write_text("sources:\n  - {source_id: a, source_type: csv, source: x, dest_table: ../x}\n")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.dest_table: .*invalid"):
        load_file(path, ImportConfig)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("sources: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_file(path, ImportConfig)
    with pytest.raises(ConfigError, match=r"none\.json: config file not found"):
        load_file(tmp_path / "none.json", ProjectsList)


def test_unknown_environment_lists_the_known_ones() -> None:
    dag = load_file(CONFIG / "dag_config.yaml", DagConfig)
    with pytest.raises(ConfigError, match="unknown environment 'qa': expected one of dv, prod"):
        dag.environment("qa")
