"""DAG integrity tests: parse the DAG folder the way the DAG processor does, no daemons.

These run in seconds and catch what most often breaks a deployment: an import error
(missing package, bad config read at import time) and DAGs missing the metadata the
team relies on (tags, owner, retries).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

pytest.importorskip("airflow")

from airflow.dag_processing.dagbag import DagBag

PROTO_DAGS = Path(__file__).parent / "proto_dags"
EXPECTED = {"proto_import", "proto_process", "proto_orchestrator"}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    # The DAG processor puts the DAGs folder on sys.path (that is how the DAG files
    # import the `_proto_common` helper); a bare DagBag does not, so mirror it here.
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(PROTO_DAGS))
        yield DagBag(dag_folder=PROTO_DAGS)


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}


def test_expected_dags_present(dagbag: DagBag) -> None:
    assert set(dagbag.dag_ids) == EXPECTED


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_metadata(dagbag: DagBag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]  # get_dag() queries the metadata DB in 3.x
    assert dag.tags, "every DAG needs tags"
    assert dag.doc_md, "every DAG needs doc_md"
    assert dag.catchup is False
    assert dag.dagrun_timeout is not None
    assert "retries" in dag.default_args, "retries must be set explicitly in default_args"
    for task in dag.tasks:
        assert task.owner not in ("", "airflow"), f"{dag_id}.{task.task_id} has no real owner"
        assert task.retries is not None


def test_orchestrator_shape(dagbag: DagBag) -> None:
    dag = dagbag.dags["proto_orchestrator"]  # get_dag() queries the metadata DB in 3.x
    imp, proc = dag.get_task("trigger_import"), dag.get_task("trigger_process")
    assert proc.upstream_task_ids == {"trigger_import"}
    for t, child in ((imp, "proto_import"), (proc, "proto_process")):
        assert t.trigger_dag_id == child
        assert t.wait_for_completion is True
        assert "failed" in t.failed_states
        # A retry would trigger a second child run.
        assert t.retries == 0


def test_import_dag_uses_dynamic_mapping(dagbag: DagBag) -> None:
    dag = dagbag.dags["proto_import"]  # get_dag() queries the metadata DB in 3.x
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    assert isinstance(dag.get_task("extract"), MappedOperator)


def test_bad_config_is_an_import_error_naming_the_problem(tmp_path: Path) -> None:
    (tmp_path / "bad_config_dag.py").write_text(
        textwrap.dedent(
            '''
            """A DAG file that validates its config at import time."""
            import os
            from airflow.sdk import dag

            if not os.environ.get("DATAPIPELINE_DOES_NOT_EXIST"):
                raise ValueError("DATAPIPELINE_DOES_NOT_EXIST is not set: cannot build DAG")

            @dag(schedule=None)
            def never():
                pass

            never()
            '''
        )
    )
    bag = DagBag(dag_folder=tmp_path)
    assert bag.dag_ids == []
    [(path, message)] = bag.import_errors.items()
    assert path.endswith("bad_config_dag.py")
    assert "ValueError" in message
    assert "DATAPIPELINE_DOES_NOT_EXIST is not set" in message
