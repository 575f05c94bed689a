"""The orchestration config, read and checked without Airflow: paths, overrides, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from orchestration_config import REPO, write_project

from datapipeline.config import load_file
from datapipeline.errors import ConfigError
from datapipeline.orchestration import CONFIG_DIR_ENV, config_dir_for, load_projects


def test_repo_config_gives_the_three_dags_of_each_project() -> None:
    [plan] = load_projects(REPO / "config")
    assert (plan.project, plan.env_name) == ("drug_mentions", "dv")
    assert list(plan.types) == ["import", "process", "orchestrator"]
    assert plan.dag_id("import") == "drug_mentions__dv__import"
    assert plan.types["orchestrator"].schedule == "@daily"
    # relative paths of the repo's config resolve against the repo root, not the cwd
    assert plan.env.lake == str(REPO / "imported_data")
    assert plan.imports is not None
    assert plan.imports.sources[0].source == str(REPO / "src/datapipeline/sample_data/drugs.csv")


def test_data_paths_are_relative_to_the_project_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = [
        {
            "source_id": "drugs",
            "source_type": "csv",
            "source": "in/drugs.csv",
            "dest_table": "drugs",
        },
        {
            "source_id": "pubmed",
            "source_type": "json",
            "source": "gs://bucket/pubmed.json",
            "dest_table": "pubmed",
        },
        {
            "source_id": "trials",
            "source_type": "postgres",
            "source": "public.trials",
            "dest_table": "clinical_trials",
            "options": {"host": "db"},
        },
        {
            "source_id": "abs",
            "source_type": "csv",
            "source": "/data/pubmed.csv",
            "dest_table": "pubmed",
        },
    ]
    config = write_project(
        tmp_path / "proj",
        environments={
            "dv": {"lake": "lake", "output": "out", "warehouse": {"path": "out/w.duckdb"}},
        },
        extra_files={"file_to_import.yaml": {"sources": sources}},
    )
    monkeypatch.chdir(tmp_path)  # the cwd plays no part
    [plan] = load_projects(config)
    root = (tmp_path / "proj").resolve()
    assert plan.env.lake == str(root / "lake")
    assert plan.env.output == str(root / "out")
    assert plan.env.warehouse.path == str(root / "out/w.duckdb")
    assert plan.imports is not None
    assert [s.source for s in plan.imports.sources] == [
        str(root / "in/drugs.csv"),
        "gs://bucket/pubmed.json",
        "public.trials",  # a table name, not a path
        "/data/pubmed.csv",
    ]
    assert plan.warehouse_tables == ["clinical_trials", "drugs", "pubmed"]


def test_cloud_environment_keeps_urls_and_bigquery(tmp_path: Path) -> None:
    prod = {
        "lake": "gs://b/lake",
        "output": "gs://b/out",
        "warehouse": {"backend": "bigquery", "project": "p", "dataset": "d"},
    }
    config = write_project(
        tmp_path, projects=[{"name": "dm", "env": "prod"}], environments={"prod": prod}
    )
    [plan] = load_projects(config)
    assert plan.dag_id("process") == "dm__prod__process"
    assert (plan.env.lake, plan.env.output) == ("gs://b/lake", "gs://b/out")
    assert plan.env.warehouse.backend == "bigquery"


def test_a_project_may_override_its_import_file(tmp_path: Path) -> None:
    own = {
        "sources": [
            {"source_id": "d", "source_type": "csv", "source": "x.csv", "dest_table": "drugs"}
        ]
    }
    config = write_project(
        tmp_path,
        projects=[
            {"name": "a", "env": "dv"},
            {"name": "b", "env": "other", "dags": {"import": {"config_file": "b_import.yaml"}}},
        ],
        environments={"dv": {}, "other": {"lake": "other_lake", "output": "other_out"}},
        extra_files={"b_import.yaml": own},
    )
    a, b = load_projects(config)
    assert a.imports is not None
    assert b.imports is not None
    assert [s.source_id for s in a.imports.sources] == [
        "drugs",
        "pubmed_csv",
        "pubmed_json",
        "clinical_trials",
    ]
    assert [s.source_id for s in b.imports.sources] == ["d"]
    assert b.config_files["import"] == config / "b_import.yaml"
    assert b.types["import"].config_file == "b_import.yaml"


def test_only_the_listed_dag_types_are_built(tmp_path: Path) -> None:
    config = write_project(tmp_path, projects=[{"name": "p", "dag_types": ["process"]}])
    [plan] = load_projects(config)
    assert list(plan.types) == ["process"]
    assert plan.imports is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"projects": [{"name": "p", "dag_types": ["import", "export"]}]},
            "projects_list.json: projects[0].dag_types[1]: Input should be 'import', 'process' or 'orchestrator'",
            id="unknown-dag-type",
        ),
        pytest.param(
            {"projects": [{"name": "p", "env": "qa"}]},
            "projects_list.json: projects[0].env: unknown environment 'qa': expected one of dv",
            id="unknown-env",
        ),
        pytest.param(
            {"dags": {"import": {"config_file": "nope.yaml"}, "process": {}}},
            "dag_config.yaml: dags.import.config_file: 'nope.yaml' not found",
            id="missing-config-file",
        ),
        pytest.param(
            {"dags": {"process": {}}},
            "dag_config.yaml: dags.import.config_file: missing (required)",
            id="import-without-config-file",
        ),
        pytest.param(
            {"projects": [{"name": "p", "dag_types": ["orchestrator", "process"]}]},
            "projects_list.json: projects[0].dag_types: the orchestrator triggers the import and process DAGs",
            id="orchestrator-alone",
        ),
        pytest.param(
            {"projects": [{"name": "p"}, {"name": "q"}]},
            "projects_list.json: projects[1].env: 'dv' is already used by project 'p'",
            id="two-projects-one-env",
        ),
        pytest.param(
            {"projects": [{"name": "p", "dags": {"import": {"config_file": "gone.yaml"}}}]},
            "projects_list.json: projects[0].dags.import.config_file: 'gone.yaml' not found",
            id="missing-project-override-file",
        ),
    ],
)
def test_broken_config_names_file_and_key(tmp_path: Path, change: dict, expected: str) -> None:
    kwargs = {"projects": change.get("projects"), "dags": change.get("dags")}
    config = write_project(tmp_path, **kwargs)
    with pytest.raises(ConfigError) as caught:
        load_projects(config)
    assert expected in str(caught.value)
    assert str(config) in str(caught.value)


def test_no_project_is_an_error_not_zero_dags(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    (config / "projects_list.json").write_text(json.dumps({"projects": []}))
    with pytest.raises(ConfigError, match=r"projects_list.json: projects: empty"):
        load_projects(config)


def test_bad_sources_fail_at_parse_time(tmp_path: Path) -> None:
    twice = {"source_id": "d", "source_type": "csv", "source": "a.csv", "dest_table": "drugs"}
    config = write_project(
        tmp_path, extra_files={"file_to_import.yaml": {"sources": [twice, twice]}}
    )
    with pytest.raises(
        ConfigError, match=r"file_to_import.yaml: sources\[1\].source_id: 'd' appears twice"
    ):
        load_projects(config)
    unknown = {"source_id": "x", "source_type": "csv", "source": "a.csv", "dest_table": "misc"}
    (config / "file_to_import.yaml").write_text(json.dumps({"sources": [unknown]}))
    with pytest.raises(
        ConfigError, match=r"file_to_import.yaml: sources\[0\]: source 'x': kind 'misc' unknown"
    ):
        load_projects(config)


def test_bad_yaml_names_the_file(tmp_path: Path) -> None:
    config = write_project(tmp_path)
    (config / "dag_config.yaml").write_text("defaults: [unclosed\n")
    with pytest.raises(ConfigError, match=r"dag_config.yaml: line 2 column 1: not valid YAML"):
        load_projects(config)


def test_missing_config_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"config folder not found .set {CONFIG_DIR_ENV}"):
        load_projects(tmp_path / "nowhere")


def test_config_dir_from_env_or_beside_the_dags_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dag_file = tmp_path / "repo" / "dags" / "x.py"
    monkeypatch.delenv(CONFIG_DIR_ENV, raising=False)
    assert config_dir_for(dag_file) == (tmp_path / "repo" / "config").resolve()
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path / "elsewhere"))
    assert config_dir_for(dag_file) == (tmp_path / "elsewhere").resolve()


def test_repo_dag_config_still_reads_as_the_cli_reads_it() -> None:
    # the CLI loads the same file for --env: the new keys must not break it
    from datapipeline.config import DagConfig

    config = load_file(REPO / "config" / "dag_config.yaml", DagConfig)
    assert config.defaults.poke_interval_seconds == 30
    assert config.environment("prod").warehouse.backend == "bigquery"
