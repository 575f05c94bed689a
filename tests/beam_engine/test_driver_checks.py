"""The Beam driver's checks before and after a pipeline: the runner name, the report's secrets."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from tests.beam_engine.conftest import objects
from tests.conftest import GcsEmulator
from tests.datagen import require_beam

require_beam()

from datapipeline.beam.outputs import finish  # noqa: E402
from datapipeline.beam.pipeline import pipeline_options  # noqa: E402
from datapipeline.beam.transforms import WrittenRange, write_lines  # noqa: E402
from datapipeline.cli import main  # noqa: E402
from datapipeline.config import ProcessConfig, Source  # noqa: E402
from datapipeline.errors import ConfigError  # noqa: E402
from datapipeline.mentions.nodes import drug_node_rows  # noqa: E402
from datapipeline.mentions.recipe import prepare_drugs  # noqa: E402
from datapipeline.run.report import GraphSummary  # noqa: E402
from datapipeline.run.sources import read_source  # noqa: E402


def test_a_mistyped_runner_is_one_error_line_naming_the_right_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16: ``--runner DirectRuner`` ended in Beam's traceback."""
    args = ["run", "--engine", "beam", "--runner", "DirectRuner", "--output-dir", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: --runner DirectRuner: unknown Beam runner; expected one of ")
    assert err[0].endswith("; did you mean 'DirectRunner'?")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "runner", ["DirectRunner", "directrunner", "Direct", "DataflowRunner", "x.y.MyRunner"]
)
def test_runner_names_beam_accepts_pass(runner: str) -> None:
    """Beam looks names up in any case, with or without ``Runner``; a dotted path is a class."""
    pipeline_options([f"--runner={runner}"])


def test_an_unknown_runner_without_a_close_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"--runner Spark2: unknown Beam runner; expected"):
        pipeline_options(["--runner", "Spark2"])


def test_the_report_copied_to_a_remote_output_is_redacted_value_by_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gcs_emulator: GcsEmulator, remote: str
) -> None:
    """The remote copy of the report is redacted (its numbers kept), like the local one."""
    drugs_csv = tmp_path / "601" / "drugs.csv"
    drugs_csv.parent.mkdir()
    drugs_csv.write_text("atccode,drug\n" + "".join(f"A{i},DRUG{i}\n" for i in range(601)))
    source = Source(source_id="d", source_type="csv", source=str(drugs_csv), dest_table="drugs")
    drugs = prepare_drugs(pl.DataFrame(read_source(source)))
    repairs = [(str(drugs_csv), "decoded_as_cp1252")]  # a path with the secret in it
    monkeypatch.setenv("LAKE_PASSWORD", "601")
    drug_nodes = tmp_path / "nodes-000001"  # the range of the drug nodes, as the job writes it
    write_lines(str(drug_nodes), [drug_node_rows(drugs.nodes)])
    ranges = [WrittenRange("nodes", 1, str(drug_nodes), GraphSummary(drugs=601))]
    finish(drugs, ranges, {}, None, repairs, remote, ProcessConfig())
    report = json.loads(objects(gcs_emulator, remote)["run_report.json"])
    assert report["sources"]["drugs"]["read"] == 601  # a number equal to the secret, kept
    assert report["graph"]["drugs"] == 601
    assert report["repairs"] == [
        {"file": str(tmp_path / "***" / "drugs.csv"), "repair": "decoded_as_cp1252"}
    ]
    assert report["outputs"]["graph"] == f"{remote}/graph.json"
