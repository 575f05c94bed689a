"""The Beam engine's last step publishes its outputs as one set, into a local folder (as every
engine: :mod:`datapipeline.run.outputs`) and into a ``gs://`` folder (the storage emulator),
where one object, ``.runs/current``, names the run whose three files form the set."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.beam_engine.conftest import objects
from tests.conftest import GcsEmulator
from tests.datagen import require_beam

require_beam()

from apache_beam.io.filesystems import FileSystems  # noqa: E402

from datapipeline.beam.outputs import current_run, finish, read_report  # noqa: E402
from datapipeline.beam.transforms import WrittenRange, write_lines  # noqa: E402
from datapipeline.config import ProcessConfig, Source  # noqa: E402
from datapipeline.mentions.nodes import drug_node_rows  # noqa: E402
from datapipeline.mentions.recipe import prepare_drugs  # noqa: E402
from datapipeline.run.outputs import current_folder  # noqa: E402
from datapipeline.run.report import GraphSummary  # noqa: E402
from datapipeline.run.sources import read_source  # noqa: E402
from tests.published import PUBLISHED  # noqa: E402

OUTPUTS = PUBLISHED

#: Two drug lists whose outputs differ in every file (B has a rejected row).
DRUGS = {
    "a": "atccode,drug\nA1,ETHANOL\nA2,ATROPINE\n",
    "b": "atccode,drug\nB1,ASPIRIN\nB2,\n",
}


def finish_on(drugs_csv: Path, output_dir: str) -> None:
    """The last step of the Beam job for a drug list alone (its nodes one range)."""
    source = Source(source_id="d", source_type="csv", source=str(drugs_csv), dest_table="drugs")
    drugs = prepare_drugs(pl.DataFrame(read_source(source)))
    nodes = drugs_csv.with_suffix(".nodes")  # the range of the drug nodes, as the job writes it
    write_lines(str(nodes), [drug_node_rows(drugs.nodes)])
    summary = GraphSummary(drugs=drugs.nodes.height)
    finish(
        drugs,
        [WrittenRange("nodes", 1, str(nodes), summary)],
        {},
        None,
        [],
        output_dir,
        ProcessConfig(),
    )


@pytest.fixture
def drug_lists(tmp_path: Path) -> dict[str, Path]:
    lists = {}
    for name, text in DRUGS.items():
        lists[name] = tmp_path / name / "drugs.csv"
        lists[name].parent.mkdir()
        lists[name].write_text(text)
    return lists


def test_a_local_output_is_published_as_every_engine_publishes_it(
    tmp_path: Path, drug_lists: dict[str, Path]
) -> None:
    out = tmp_path / "out"
    finish_on(drug_lists["a"], str(out))
    first = current_folder(out)
    finish_on(drug_lists["b"], str(out))
    assert (out / "graph.json").resolve().parent == current_folder(out) != first
    assert first is not None
    assert not first.exists()  # the superseded run's folder is removed
    assert read_report(str(out), ProcessConfig()).accounts["drugs"].rejected == 1


def put_objects(emulator: GcsEmulator, url: str, wanted: dict[str, bytes]) -> None:
    """Make the objects under ``url`` exactly ``wanted``."""
    bucket_name, prefix = url.removeprefix("gs://").split("/", 1)
    bucket = emulator.client().bucket(bucket_name)
    for blob in list(bucket.list_blobs(prefix=f"{prefix}/")):
        blob.delete()
    for name, data in wanted.items():
        bucket.blob(f"{prefix}/{name}").upload_from_string(data)


def published(stored: dict[str, bytes]) -> dict[str, bytes]:
    """The set named by ``.runs/current`` among ``stored`` objects ({} before any)."""
    if ".runs/current" not in stored:
        return {}
    run = stored[".runs/current"].decode().strip()
    return {name: stored[f".runs/{run}/{name}"] for name in OUTPUTS}


def test_a_remote_output_is_one_set_named_by_its_current_object(
    gcs_emulator: GcsEmulator, remote: str, drug_lists: dict[str, Path]
) -> None:
    finish_on(drug_lists["a"], remote)
    set_a = published(objects(gcs_emulator, remote))
    finish_on(drug_lists["b"], remote)
    stored = objects(gcs_emulator, remote)
    set_b = published(stored)
    assert all(set_a[name] != set_b[name] for name in OUTPUTS)
    run = stored[".runs/current"].decode().strip()
    # the documented names are copies of the current run's files; the old run is gone
    assert sorted(stored) == sorted(
        [*OUTPUTS, ".runs/current", *(f".runs/{run}/{name}" for name in OUTPUTS)]
    )
    assert {name: stored[name] for name in OUTPUTS} == set_b
    report = json.loads(set_b["run_report.json"])
    assert report["outputs"]["graph"] == f"{remote}/graph.json"
    assert current_run(remote) == f"{remote}/.runs/{run}"
    assert read_report(remote, ProcessConfig()).accounts["drugs"].rejected == 1


def test_a_remote_publication_stopped_at_any_step_leaves_one_named_set(
    gcs_emulator: GcsEmulator,
    remote: str,
    drug_lists: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a killed job leaves at each step of the remote publication (the bucket's objects
    just before each create, copy or delete): ``.runs/current`` names one whole set, the old
    or the new; each documented object is whole (the old or the new file); the next run
    publishes the new set and removes the rest."""
    finish_on(drug_lists["b"], remote)
    set_b = published(objects(gcs_emulator, remote))
    put_objects(gcs_emulator, remote, {})
    finish_on(drug_lists["a"], remote)
    set_a = published(objects(gcs_emulator, remote))

    moments: list[dict[str, bytes]] = []

    def recorded(name: str) -> Callable[..., Any]:
        original = getattr(FileSystems, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            moments.append(objects(gcs_emulator, remote))
            return original(*args, **kwargs)

        return staticmethod(call)

    with monkeypatch.context() as patched:
        for name in ("create", "copy", "rename", "delete"):
            patched.setattr(FileSystems, name, recorded(name))
        finish_on(drug_lists["b"], remote)
    assert len(moments) >= 6  # three uploads, the pointer, the copies, the removal
    shown = []
    for moment in moments:
        named = published(moment)
        assert named in (set_a, set_b)
        shown.append("a" if named == set_a else "b")
        for name in OUTPUTS:
            assert moment[name] in (set_a[name], set_b[name])
        put_objects(gcs_emulator, remote, moment)
        finish_on(drug_lists["b"], remote)
        stored = objects(gcs_emulator, remote)
        assert published(stored) == set_b
        assert {name: stored[name] for name in OUTPUTS} == set_b
        assert len(stored) == 2 * len(OUTPUTS) + 1  # nothing left of other runs
    assert shown == sorted(shown)
    assert shown[0] == "a"
    assert shown[-1] == "b"
