"""A tiny input data set, and the graph ``datapipeline.jobs.run`` builds from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from datapipeline import jobs

DRUGS = """atccode,drug
A04AD,DIPHENHYDRAMINE
S03AA,TETRACYCLINE
V03AB,ETHANOL
R01AD,BETAMETHASONE
"""

PUBMED_CSV = """id,title,date,journal
1,"Diphenhydramine and sleep in adults",2019-01-01,Journal of emergency nursing
2,"Ethanol and tetracycline interactions in rats",2019-03-02,The Journal of pediatrics
3,"Tetracycline resistance of Lactobacillus strains",2020-01-01,Journal of food protection
"""

PUBMED_JSON = [
    {
        "id": "4",
        "title": "Ethanol exposure and diphenhydramine use in emergencies",
        "date": "2020-05-15",
        "journal": "Journal of emergency nursing",
    },
    {
        "id": "5",
        "title": "A study of nothing the referential names",
        "date": "2020-06-01",
        "journal": "Journal of food protection",
    },
]

TRIALS = """id,scientific_title,date,journal
NCT01,"Diphenhydramine as a sedative for colonoscopy",1 January 2020,Journal of emergency nursing
NCT02,"Tetracycline for acne: a randomised trial",27 April 2020,Journal of food protection
"""

#: What the data above says, written by hand (not read back from the outputs).
KNOWN_PUBLICATION = {
    "id": "pubmed:3",
    "title": "Tetracycline resistance of Lactobacillus strains",
    "date": "2020-01-01",
    "journal": "Journal of food protection",
    "source_id": "3",
}
#: Dated publications mentioning a drug: pubmed 1, 2, 3, 4; trials NCT01, NCT02.
PUBMED_DATES = ["2019-01-01", "2019-03-02", "2020-01-01", "2020-05-15"]
TRIAL_DATES = ["2020-01-01", "2020-04-27"]
#: Distinct drugs per journal: emergency nursing {DIPHENHYDRAMINE, ETHANOL}, pediatrics
#: {ETHANOL, TETRACYCLINE}, food protection {TETRACYCLINE}: two journals tie with 2.
TOP_JOURNALS = ["Journal of emergency nursing", "The Journal of pediatrics"]


def write_data_set(folder: Path) -> Path:
    """Write the four input files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "drugs.csv").write_text(DRUGS, encoding="utf-8")
    (folder / "pubmed.csv").write_text(PUBMED_CSV, encoding="utf-8")
    (folder / "pubmed.json").write_text(json.dumps(PUBMED_JSON, indent=1), encoding="utf-8")
    (folder / "clinical_trials.csv").write_text(TRIALS, encoding="utf-8")
    return folder


@pytest.fixture
def expected() -> dict[str, Any]:
    """The facts of the tiny data set, written by hand."""
    return {
        "publication": KNOWN_PUBLICATION,
        "pubmed_dates": PUBMED_DATES,
        "trial_dates": TRIAL_DATES,
        "top_journals": TOP_JOURNALS,
    }


@pytest.fixture
def small_graph(tmp_path: Path) -> Path:
    """graph.json built by the main job from the tiny data set."""
    data = write_data_set(tmp_path / "data")
    jobs.run(data, str(tmp_path / "lake"), tmp_path / "out")
    return tmp_path / "out" / "graph.json"
