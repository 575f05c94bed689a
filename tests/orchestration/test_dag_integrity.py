"""DAG integrity: parse ``dags/`` the way the DAG processor does, no daemons.

Checks the repo's own config (every configured project gets its three DAGs, with tags, an
owner, retries and timeouts) and that a broken config is an import error of the DAG file
whose text names the file and the key -- never an empty DAG list.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from orchestration_config import DAG_FILE, DAGS_DIR, REPO, require_airflow, write_project

from datapipeline.config import ProjectsList, load_file
from datapipeline.orchestration import CONFIG_DIR_ENV

require_airflow()

from airflow.dag_processing.dagbag import DagBag  # noqa: E402
from airflow.sdk.definitions.mappedoperator import MappedOperator  # noqa: E402

PROJECTS = load_file(REPO / "config" / "projects_list.json", ProjectsList).projects


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(CONFIG_DIR_ENV, raising=False)  # the repo's config/, found beside dags/
        return DagBag(dag_folder=DAGS_DIR)


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}


def test_each_configured_project_has_its_three_dags(dagbag: DagBag) -> None:
    expected = {
        f"{p.name}__{p.env}__{dag_type}"
        for p in PROJECTS
        for dag_type in ("import", "process", "orchestrator")
    }
    assert expected <= set(dagbag.dag_ids)
    assert len(dagbag.dag_ids) == 3 * len(PROJECTS)


def test_every_dag_has_tags_owner_retries_and_timeouts(dagbag: DagBag) -> None:
    assert dagbag.dags
    for dag_id, dag in dagbag.dags.items():
        dag_type = dag_id.rsplit("__", 1)[1]
        assert {"datapipeline", dag_type} <= set(dag.tags), dag_id
        assert dag_id in (dag.doc_md or "")
        assert dag.catchup is False
        assert isinstance(dag.dagrun_timeout, timedelta)
        assert dag.default_args["retries"] == 2  # config/dag_config.yaml
        assert dag.default_args["retry_delay"] == timedelta(minutes=5)
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            assert task.owner == "data-engineering", where
            assert isinstance(task.execution_timeout, timedelta), where
            # trigger tasks never retry: a retry would start a second child run
            assert task.retries == (0 if dag_type == "orchestrator" else 2), where


def test_import_dag_maps_one_task_per_source_then_loads(dagbag: DagBag) -> None:
    dag = dagbag.dags["drug_mentions__dv__import"]
    mapped = dag.get_task("import_source")
    assert isinstance(mapped, MappedOperator)
    assert mapped.op_kwargs_expand_input.value == {
        "source_id": ["drugs", "pubmed_csv", "pubmed_json", "clinical_trials"]
    }
    assert dag.get_task("load_warehouse").upstream_task_ids == {"import_source"}


def test_orchestrator_triggers_import_then_process(dagbag: DagBag) -> None:
    dag = dagbag.dags["drug_mentions__dv__orchestrator"]
    assert dag.schedule == "@daily"  # the orchestrator's own schedule; children: triggered
    assert dagbag.dags["drug_mentions__dv__import"].schedule is None
    imp, proc = dag.get_task("trigger_import"), dag.get_task("trigger_process")
    assert proc.upstream_task_ids == {"trigger_import"}
    for op, child in ((imp, "drug_mentions__dv__import"), (proc, "drug_mentions__dv__process")):
        assert op.trigger_dag_id == child
        assert op.wait_for_completion is True
        assert op.failed_states == ["failed"]
        assert op.fail_when_dag_is_paused is True


def _parse_with_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: Path) -> DagBag:
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags)
    monkeypatch.setenv(CONFIG_DIR_ENV, str(config))
    return DagBag(dag_folder=dags)


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        pytest.param(
            (
                "projects_list.json",
                json.dumps({"projects": [{"name": "p", "dag_types": ["import", "exporter"]}]}),
            ),
            "projects_list.json: projects[0].dag_types[1]: Input should be 'import', 'process' or 'orchestrator'",
            id="unknown-dag-type",
        ),
        pytest.param(
            ("dag_config.yaml", "dags:\n  import: {config_file: sources.yaml}\n"),
            "dag_config.yaml: dags.import.config_file: 'sources.yaml' not found",
            id="missing-path",
        ),
        pytest.param(
            ("dag_config.yaml", "defaults: [unclosed\n"),
            "dag_config.yaml: line 2 column 1: not valid YAML",
            id="bad-yaml",
        ),
        pytest.param(
            ("projects_list.json", json.dumps({"projects": [{"name": "p", "env": "qa"}]})),
            "projects_list.json: projects[0].env: unknown environment 'qa'",
            id="unknown-env",
        ),
    ],
)
def test_broken_config_is_an_import_error_naming_file_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breakage: tuple[str, str], expected: str
) -> None:
    config = write_project(tmp_path / "proj")
    name, text = breakage
    (config / name).write_text(text)
    bag = _parse_with_config(tmp_path, monkeypatch, config)
    assert bag.dag_ids == []
    [(path, message)] = bag.import_errors.items()
    assert path.endswith("datapipeline_dags.py")
    assert "ConfigError" in message
    assert f"{config / name}: " in message
    assert expected in message


def test_a_valid_tmp_config_parses_through_the_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_project(tmp_path / "proj", projects=[{"name": "trial", "env": "dv"}])
    bag = _parse_with_config(tmp_path, monkeypatch, config)
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == [
        "trial__dv__import",
        "trial__dv__orchestrator",
        "trial__dv__process",
    ]
