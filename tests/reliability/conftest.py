"""Helpers for the reliability tests: a data folder builder and output checks."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import write_folder

#: Every kind has a source; drugs has one drug so titles have something to mention.
BASE: dict[str, str | bytes] = {
    "drugs.csv": "atccode,drug\nA01,ETHANOL\nB02,ATROPINE\n",
    "pubmed.csv": "id,title,date,journal\n",
    "pubmed.json": "[]",
    "clinical_trials.csv": "id,scientific_title,date,journal\n",
}
HEADER = "id,title,date,journal\n"


def make_data(root: Path, files: dict[str, str | bytes | None]) -> Path:
    """A ``--data-dir`` folder: ``files`` over :data:`BASE`; a ``None`` value removes a file."""
    return write_folder(root, {**BASE, **files})


def check_accounts(out: Path) -> dict[str, object]:
    """The run report, after checking read = published + merged + rejected for every source
    and that rejected_rows.jsonl holds one line per rejected row."""
    report: dict[str, object] = json.loads((out / "run_report.json").read_text(encoding="utf-8"))
    sources = report["sources"]
    assert isinstance(sources, dict)
    assert set(sources) == {"drugs", "pubmed", "clinical_trials"}
    rejected_total = 0
    for name, account in sources.items():
        assert account["read"] == account["published"] + account["merged"] + account["rejected"], (
            name
        )
        assert sum(account["rejected_by_reason"].values()) == account["rejected"], name
        rejected_total += account["rejected"]
    lines = (out / "rejected_rows.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == rejected_total
    for line in lines:
        json.loads(line)
    return report
