"""Deterministic input folders for engine and incremental tests, with the defects of real files.

``write_quirks`` writes a small folder where every quirk the pipeline handles appears at least
once; ``write_corpus`` writes a generated corpus of a few thousand titles over several files.
"""

from __future__ import annotations

import calendar
import json
import random
from pathlib import Path

DRUGS = [
    ("A04AD", "DIPHENHYDRAMINE"),
    ("S03AA", "TETRACYCLINE"),
    ("V03AB", "ETHANOL"),
    ("A03BA", "ATROPINE"),
    ("A01AD", "EPINEPHRINE"),
    ("6302001", "ISOPRENALINE"),
    ("R01AD", "BETAMETHASONE"),
    ("B02AA", "TRANEXAMIC ACID"),
    ("X0001", "ACID"),
    ("N02AB", "Pérphénazine"),
]
WORDS = [
    "study",
    "of",
    "the",
    "effect",
    "in",
    "patients",
    "with",
    "acute",
    "chronic",
    "pain",
    "trial",
    "randomized",
    "outcome",
    "comparison",
    "therapy",
    "dose",
    "safety",
    "efficacy",
    "children",
    "adults",
    "review",
    "case",
    "report",
    "use",
]
JOURNALS = [
    "Journal of emergency nursing",
    "JOURNAL OF EMERGENCY NURSING",
    "The journal of maternal-fetal & neonatal medicine",
    "Psychopharmacology",
    "Hôpitaux Universitaires de Genève",
    "American journal of veterinary research",
]


def _csv_line(values: list[str]) -> str:
    return ",".join(
        '"' + v.replace('"', '""') + '"' if ("," in v or '"' in v) else v for v in values
    )


def write_drugs(
    folder: Path, drugs: list[tuple[str, str]] = DRUGS, name: str = "drugs.csv"
) -> Path:
    path = folder / name
    lines = ["atccode,drug", *(_csv_line([a, d]) for a, d in drugs)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_quirks(folder: Path) -> Path:
    """A small folder with every quirk: duplicates (one without id), a missing title, a
    tab-only line, accents, literal escaped bytes, a trailing comma in JSON, cp1252 bytes,
    several date formats, journals differing only by case, a drug without letters."""
    folder.mkdir(parents=True, exist_ok=True)
    write_drugs(folder, [*DRUGS, ("Z999", "--")])
    (folder / "pubmed.csv").write_text(
        "id,title,date,journal\n"
        "1,A 01 study of ATROPINE and Epinephrine in kids,01/01/2019,Journal of emergency nursing\n"
        "2,Tranexamic acid after surgery,2020-01-01,JOURNAL OF EMERGENCY NURSING\n"
        '3,"Effect of ethanol, diphenhydramine",1 January 2020,Psychopharmacology\n'
        ",Tranexamic acid after surgery,01/01/2020,\n"
        "\t,\t,\t,\t\n"
        "5,,2020-02-01,Psychopharmacology\n"
        "6,Pérphénazine in the elderly,27 Apr 2020,Hôpitaux Universitaires de Genève\n"
        "7,Betamethasone \\xc3\\xb1 Laminectomy,25/05/2020,Journal of emergency nursing\n"
        "8,Tetracycline \\xc3\\x28 nursing,not a date,Psychopharmacology\n",
        encoding="utf-8",
    )
    records = [
        {
            "id": 9,
            "title": "ISOPRENALINE and the heart",
            "date": "01/03/2020",
            "journal": "Psychopharmacology",
        },
        {
            "id": "",
            "title": "Tranexamic acid after surgery",
            "date": "2020-01-01",
            "journal": "Journal of emergency nursing",
        },
        {
            "id": 11,
            "title": "atropine\tepinephrine   dosing",
            "date": "January 5, 2020",
            "journal": None,
        },
    ]
    (folder / "pubmed.json").write_text(
        "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + ",\n]\n",
        encoding="utf-8",
    )
    (folder / "clinical_trials.csv").write_bytes(
        "id,scientific_title,date,journal\n"
        "NCT01,Diphenhydramine for colonoscopy,1 January 2020,Journal of emergency nursing\n"
        "NCT02,Caf\xe9 and ETHANOL,25/05/2020,Psychopharmacology\n"
        "NCT03,,1 January 2020,Journal of emergency nursing\n"
        "NCT01,Diphenhydramine for colonoscopy,1 January 2020,\n"
        "NCT04,Epinephrine/atropine,2020-04-27,\n".encode("cp1252")
    )
    return folder


def _title(rng: random.Random, names: list[str]) -> str:
    words = rng.choices(WORDS, k=rng.randint(3, 9))
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        name = rng.choice(names)
        name = rng.choice([name, name.lower(), name.title()])
        words.insert(rng.randint(0, len(words)), name)
    return " ".join(words).capitalize()


def _date(rng: random.Random) -> str:
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(2018, 2021)
    months = list(calendar.month_name[1:])
    return rng.choice(
        [
            f"{day:02d}/{month:02d}/{year}",
            f"{year}-{month:02d}-{day:02d}",
            f"{day} {months[month - 1]} {year}",
        ]
    )


def write_corpus(folder: Path, titles: int = 3000, files: int = 4, seed: int = 7) -> Path:
    """A generated corpus: ``titles`` PubMed titles over ``files`` CSV/JSON files, clinical
    trials, duplicates across files (some without id), blank rows and bad dates."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_drugs(folder)
    names = [d for _, d in DRUGS]
    rows = []
    for i in range(titles):
        if rows and rng.random() < 0.05:  # a duplicate of an earlier record, maybe without id
            pid, title, date, journal = rng.choice(rows)
            rows.append((rng.choice(["", pid]), title, date, rng.choice(["", journal])))
            continue
        date = _date(rng) if rng.random() > 0.01 else "someday"
        title = _title(rng, names) if rng.random() > 0.01 else ""
        rows.append((str(100000 + i), title, date, rng.choice(JOURNALS)))
    per_file = len(rows) // files + 1
    for f in range(files):
        chunk = rows[f * per_file : (f + 1) * per_file]
        if f % 2:
            records = [
                {"id": int(p) if p else None, "title": t, "date": d, "journal": j or None}
                for p, t, d, j in chunk
            ]
            (folder / f"pubmed_{f:03d}.json").write_text(json.dumps(records), encoding="utf-8")
        else:
            lines = ["id,title,date,journal", *(_csv_line(list(r)) for r in chunk), "\t,\t,\t,\t"]
            (folder / f"pubmed_{f:03d}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    trials = ["id,scientific_title,date,journal"]
    for i in range(titles // 10):
        trials.append(
            _csv_line([f"NCT{i:05d}", _title(rng, names), _date(rng), rng.choice(JOURNALS)])
        )
    (folder / "clinical_trials.csv").write_text("\n".join(trials) + "\n", encoding="utf-8")
    return folder


def require_beam():
    """Apache Beam, imported; skips the test module when the ``beam`` extra is not installed,
    except under CI=true, where the engine's tests must run."""
    import os

    import pytest

    if os.environ.get("CI") == "true":
        import apache_beam

        return apache_beam
    return pytest.importorskip("apache_beam", reason="the beam extra is not installed")


def shared_dir(name: str) -> Path:
    """A folder of ../shared; under CI=true its absence fails."""
    from tests.conftest import shared_path

    return shared_path(name)
