"""``--on-bad-file``: a file its reader refuses whole stops the run (the default), or is listed
as rejected and left out (``skip``), by every engine that imports into the lake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapipeline.cli import main
from tests.datagen import write_quirks

pytestmark = pytest.mark.e2e


def v1_study(nct: str) -> dict:
    """A ClinicalTrials.gov classic API (v1) response: a neighbouring format, refused whole."""
    study = {
        "Rank": 1,
        "Study": {
            "ProtocolSection": {
                "IdentificationModule": {"NCTId": nct, "BriefTitle": "Atropine in a v1 study"},
                "StatusModule": {"StartDateStruct": {"StartDate": "January 2002"}},
            }
        },
    }
    return {
        "FullStudiesResponse": {"APIVrs": "1.01.05", "NStudiesFound": 1, "FullStudies": [study]}
    }


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = write_quirks(tmp_path / "data")
    (folder / "nct_v1.json").write_text(json.dumps(v1_study("NCT00023673")))
    return folder


def _run(data: Path, out: Path, lake: Path, *extra: str) -> int:
    args = ["run", "--data-dir", str(data), "--output-dir", str(out), "--lake", str(lake)]
    return main([*args, *extra])


def test_a_bad_file_stops_the_run_by_default(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(data, tmp_path / "out", tmp_path / "lake") == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {data / 'nct_v1.json'}: ClinicalTrials.gov classic API (v1)")
    assert not (tmp_path / "out" / "graph.json").exists()


@pytest.mark.parametrize("engine", ["local", "stream"])
def test_skip_lists_the_file_as_rejected_and_goes_on(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    out = tmp_path / "out"
    code = _run(data, out, tmp_path / "lake", "--on-bad-file", "skip", "--engine", engine)
    assert code == 0
    summary = capsys.readouterr().out
    assert f"skipped: {data / 'nct_v1.json'}: " in summary
    report = json.loads((out / "run_report.json").read_text())
    assert report["rejected_files"] == [
        {
            "table": "clinical_trials",
            "file": str(data / "nct_v1.json"),
            "reason": "unsupported_format",
        }
    ]
    lines = [json.loads(line) for line in (out / "rejected_rows.jsonl").read_text().splitlines()]
    (file_line,) = [line for line in lines if line["file"] == str(data / "nct_v1.json")]
    assert file_line["row"] is None
    assert file_line["reason"] == "unsupported_format"
    assert "API v2" in file_line["record"]["error"]
    # the other files went through as without it
    clean = tmp_path / "clean"
    (data / "nct_v1.json").rename(tmp_path / "nct_v1.json")
    assert _run(data, clean, tmp_path / "lake-clean", "--engine", engine) == 0
    assert (out / "graph.json").read_bytes() == (clean / "graph.json").read_bytes()
    assert json.loads((clean / "run_report.json").read_text())["rejected_files"] == []


def test_the_beam_engine_refuses_skip(data: Path, tmp_path: Path, capsys) -> None:
    code = _run(
        data, tmp_path / "out", tmp_path / "lake", "--on-bad-file", "skip", "--engine", "beam"
    )
    assert code == 2
    assert "the beam engine stops at a file it cannot read" in capsys.readouterr().err
