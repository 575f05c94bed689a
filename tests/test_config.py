"""Config files: the repo's own parse, and errors name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from datapipeline.cli import main
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


def test_invalid_yaml_names_line_and_column_and_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    # line 3: "    source_type: csv: x", a second colon in the value (counted: column 21)
    path.write_text("sources:\n  - source_id: a\n    source_type: csv: x\n")
    with pytest.raises(ConfigError) as error:
        load_file(path, ImportConfig)
    assert str(error.value) == (
        f"{path}: line 3 column 21: not valid YAML (mapping values are not allowed here)"
    )
    with pytest.raises(ConfigError, match=r"none\.json: config file not found"):
        load_file(tmp_path / "none.json", ProjectsList)


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "projects_list.json"
    path.write_text('{"projects": [\n  {"name": "a",}\n]}\n')
    with pytest.raises(ConfigError) as error:
        load_file(path, ProjectsList)
    assert str(error.value).startswith(f"{path}: line 2 column 16: not valid JSON (")


@pytest.mark.parametrize(
    ("text", "model", "message"),
    [
        (
            "sources:\n  - {source_id: a, sourc_type: csv, source_type: csv, source: x.csv, "
            "dest_table: drugs}\n",
            ImportConfig,
            "sources[0].sourc_type: unknown key; did you mean 'source_type'?",
        ),
        (
            "environments:\n  dv:\n    warehouse: {bakend: duckdb}\n",
            DagConfig,
            "environments.dv.warehouse.bakend: unknown key; did you mean 'backend'?",
        ),
        (
            "defaults:\n  retrys: 3\n",
            DagConfig,
            "defaults.retrys: unknown key; did you mean 'retries'?",
        ),
        (
            "graph_fil: g.json\n",
            ProcessConfig,
            "graph_fil: unknown key; did you mean 'graph_file'?",
        ),
        ("zzz: 1\n", ProcessConfig, "zzz: unknown key"),
    ],
)
def test_an_unknown_key_suggests_the_closest_allowed_one(
    tmp_path: Path, text: str, model: type, message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_file(path, model)
    assert str(error.value) == f"{path}: {message}"


def _source(source_id: str, **extra: object) -> dict[str, object]:
    return {
        "source_id": source_id,
        "source_type": "postgres",
        "source": "public.drugs",
        "dest_table": "drugs",
        **extra,
    }


def test_two_sources_with_one_id_are_refused_naming_both(tmp_path: Path) -> None:
    """Issue 16: they would write the same lake part, the second overwriting the first."""
    path = tmp_path / "file_to_import.yaml"
    sources = [_source("a"), _source("drugs"), _source("drugs", source="public.drugs_2")]
    path.write_text(yaml.safe_dump({"sources": sources}))
    with pytest.raises(ConfigError) as error:
        load_file(path, ImportConfig)
    assert str(error.value) == (
        f"{path}: sources[2].source_id: 'drugs' appears twice (sources[1] and sources[2]): "
        "each source writes the lake part named after its id"
    )


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"password": "hunter2"}, "options.password"),
        (
            {"host": "h", "query": {"sslmode": "require", "password": "hunter2"}},
            "options.query.password",
        ),
        ({"query": {"Db_Password": "hunter2"}}, "options.query.Db_Password"),
        ({"extra": [{"passwd": "hunter2"}]}, "options.extra[0].passwd"),
    ],
)
def test_a_password_anywhere_in_the_options_is_refused_naming_the_key(
    tmp_path: Path, options: dict[str, object], key: str
) -> None:
    """Issue 16: options.query is sent to the driver as is, so a password there was used."""
    path = tmp_path / "file_to_import.yaml"
    path.write_text(yaml.safe_dump({"sources": [_source("pg.main", options=options)]}))
    with pytest.raises(ConfigError) as error:
        load_file(path, ImportConfig)
    assert str(error.value) == (
        f"{path}: sources[0].{key}: passwords are never read from config files; set the "
        "environment variable DATAPIPELINE_PG_MAIN_PASSWORD (or options.password_env, or an "
        "Airflow connection with options.conn_id)"
    )
    assert "hunter2" not in str(error.value)


def test_the_name_of_a_password_variable_is_not_a_password(tmp_path: Path) -> None:
    path = tmp_path / "file_to_import.yaml"
    options = {"password_env": "PG_PASSWORD", "query": {"sslmode": "require"}}
    path.write_text(yaml.safe_dump({"sources": [_source("pg", options=options)]}))
    assert load_file(path, ImportConfig).sources[0].options == options


@pytest.mark.parametrize(
    "text",
    [
        'sources:\n  - {source_id: a, source_type: csv, source: "data\\0.csv", dest_table: drugs}\n',
        "sources:\n  - {source_id: a, source_type: csv, source: data\0.csv, dest_table: drugs}\n",
    ],
    ids=["escaped", "raw"],
)
def test_a_nul_byte_in_a_source_path_is_one_error_line(
    tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16: the path reached the OS (``embedded null byte``) in a traceback."""
    path = tmp_path / "file_to_import.yaml"
    path.write_text(text)
    args = ["import", "--config_file", str(path), "--output_folder", str(tmp_path / "lake")]
    assert main(args) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    if "\\0" in text:  # a valid YAML string holding a NUL: the key is named
        assert err[0] == (
            f"error: {path}: sources[0].source: contains a NUL byte (\\x00): expected a path, "
            "table or query"
        )
    else:  # YAML itself refuses the raw byte: the file is named, with the position
        assert err[0] == (
            # "  - {source_id: a, source_type: csv, source: data" is 49 characters
            f"error: {path}: line 2 column 50: not valid YAML (character 0x0000: "
            "special characters are not allowed)"
        )
    assert not (tmp_path / "lake").exists()


def test_kind_defaults_to_the_table_in_any_case_and_an_unknown_one_is_suggested() -> None:
    from datapipeline.config import Source

    sales = Source(source_id="t", source_type="csv", source="t.csv", dest_table="TRANSACTIONS")
    assert sales.source_kind == "transactions"
    typo = Source(source_id="t", source_type="csv", source="t.csv", dest_table="pubmd")
    with pytest.raises(ConfigError, match=r"kind 'pubmd' unknown; .*did you mean 'pubmed'\?"):
        typo.source_kind  # noqa: B018


def test_unknown_environment_lists_the_known_ones() -> None:
    dag = load_file(CONFIG / "dag_config.yaml", DagConfig)
    with pytest.raises(ConfigError, match="unknown environment 'qa': expected one of dv, prod"):
        dag.environment("qa")
