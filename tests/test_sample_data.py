"""The sample data shipped in the package: what `datapipeline run` does with no flags."""

from __future__ import annotations

import json

import pytest

from datapipeline import jobs
from datapipeline.run import sources


@pytest.fixture(scope="module")
def sample_graph(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("sample")
    jobs.run(None, str(out / "lake"), out / "processed")
    return {
        "graph": json.loads((out / "processed" / "graph.json").read_text(encoding="utf-8")),
        "report": json.loads((out / "processed" / "run_report.json").read_text(encoding="utf-8")),
    }


def test_sample_mentions(sample_graph: dict) -> None:
    nodes = {n["id"]: n for n in sample_graph["graph"]["nodes"]}
    pairs = {
        (nodes[e["source"]]["name"], e["target"])
        for e in sample_graph["graph"]["edges"]
        if not e["target"].startswith("journal:")
    }
    idless = next(i for i in nodes if i.startswith("pubmed:~"))
    # Worked out by hand from src/datapipeline/sample_data (see the comments in the README).
    assert pairs == {
        ("PARACETAMOL", "pubmed:101"),  # Paracetamol-induced
        ("ASPIRIN", "pubmed:102"),  # Aspirin/caffeine
        ("CAFFEINE", "pubmed:102"),
        ("IBUPROFEN", "pubmed:104"),
        ("PARACETAMOL", "pubmed:104"),
        ("KETAMINE", "pubmed:105"),  # Kétamine, in a cp1252 file
        ("TRANEXAMIC ACID", "pubmed:108"),
        ("AMOXICILLIN", "pubmed:201"),
        ("IBUPROFEN", "pubmed:202"),
        ("PREDNISOLONE", "pubmed:202"),
        ("CAFFEINE", idless),
        ("PARACETAMOL", idless),
        ("KETAMINE", idless),
        ("METFORMIN", "pubmed:204"),  # metformin-like, not Metformins
        ("TRANEXAMIC ACID", "clinical_trial:NCT05000001"),
        ("CAFFEINE", "clinical_trial:NCT05000003"),  # listed twice: merged
        ("AMOXICILLIN", "clinical_trial:NCT05000004"),  # Amoxicillin–clavulanate
    }
    assert nodes["clinical_trial:NCT05000003"]["journal"] == "Neonatology"
    assert nodes["clinical_trial:NCT05000001"]["journal"] == "Journal of Orthopédics"
    assert nodes["pubmed:104"]["journal"] == "Archives de Pédiatrie"


def test_sample_accounting(sample_graph: dict) -> None:
    sources = sample_graph["report"]["sources"]
    assert sources["pubmed"]["rejected_by_reason"] == {
        "blank_row": 1,
        "invalid_date": 1,
        "missing_title": 1,
    }
    assert sources["clinical_trials"]["merged"] == 1
    assert sample_graph["report"]["graph"]["drugs_without_mentions"] == ["LORATADINE"]
    for account in sources.values():
        assert account["read"] == account["published"] + account["merged"] + account["rejected"]


def test_sample_files_carry_the_quirks_they_document() -> None:
    sample = sources.SAMPLE_DATA_DIR
    assert (sample / "drugs.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        (sample / "pubmed.csv").read_bytes().decode("utf-8")
    assert (sample / "pubmed.csv").read_bytes().endswith(b"\n\t\n")
    assert (sample / "pubmed.json").read_text().rstrip().endswith("},\n]")
    assert "\\xc3\\x28" in (sample / "clinical_trials.csv").read_text()


def test_run_summary_on_the_sample(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    from datapipeline.cli import main

    out = Path(str(tmp_path))
    assert main(["run", "--output-dir", str(out / "o"), "--lake", str(out / "l")]) == 0
    lines = capsys.readouterr().out.splitlines()
    by_source = {line.split()[0]: line.split()[1:5] for line in lines[1:4]}
    # read, published, merged, rejected per source, worked out by hand from the sample files
    assert by_source == {
        "clinical_trials": ["5", "3", "1", "1"],
        "drugs": ["10", "10", "0", "0"],
        "pubmed": ["13", "10", "0", "3"],
    }
    assert "(blank_row: 1, invalid_date: 1, missing_title: 1)" in lines[3]
    assert "graph: 10 drugs, 12 publications, 9 journals, 17 mentions" in lines
    assert "drugs without any mention: 1 (LORATADINE)" in lines
    assert any(line.startswith("time: ") and "clean and match" in line for line in lines)
    assert any("repaired:" in line and "decoded_as_cp1252" in line for line in lines)
