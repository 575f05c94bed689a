"""Acceptance on real data: PubMed XML, ClinicalTrials.gov API v2 JSON and the WHO ATC list.

``../shared/reference-data/real-world/data`` holds files written outside this project (see its
SOURCES.md). The facts the run must produce are stated here independently of the pipeline, in
plain Python over the files themselves (``xml.etree``, ``json``, ``csv``): what each record's
id, title and date are, which drugs each title mentions, how many records are rejected and
why. Nothing below is copied from the pipeline's output.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from datapipeline import jobs
from datapipeline.errors import UnsupportedFormatError
from datapipeline.extract import get_reader
from datapipeline.lake import Lake

pytestmark = [pytest.mark.e2e, pytest.mark.shared]

# --- the rules, stated in plain Python -------------------------------------------------------

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
SEASONS = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}


def month_of(text: str) -> int:
    """A month written as a number, an English month name (or its first three letters) or a
    season; a range (``Sep-Dec``, ``Sep/Oct``, ``Winter-Spring``) is its first month."""
    first = re.split(r"[-/ ]", text.strip())[0].lower()
    if first.isdigit():
        return int(first)
    if first in SEASONS:
        return SEASONS[first]
    return MONTHS.index(first[:3]) + 1


def date_of(pub_date: ET.Element | None) -> str | None:
    """The first day of what a PubDate says, ``YYYY-MM-DD``; None when it says nothing."""
    if pub_date is None or not "".join(pub_date.itertext()).strip():
        return None
    medline = pub_date.findtext("MedlineDate")
    if medline:
        # the MedlineDates of these files are all "YYYY Mon-Mon" or "YYYY Mon/Mon"
        assert re.fullmatch(r"\d{4} [A-Z][a-z]{2}[-/][A-Z][a-z]{2}", medline), medline
        year, months = medline.split(" ")
        return f"{year}-{month_of(months):02d}-01"
    year = pub_date.findtext("Year")
    month = pub_date.findtext("Month") or pub_date.findtext("Season")
    day = pub_date.findtext("Day")
    if pub_date.find("Season") is not None or not day:
        day = "1"
    return f"{year}-{month_of(month) if month else 1:02d}-{int(day):02d}"


def text_of(element: ET.Element | None) -> str | None:
    """An element's text with its inner markup removed, white space runs made one space."""
    if element is None:
        return None
    return " ".join("".join(element.itertext()).split()) or None


def normal_form(text: str) -> str:
    """Accents and case dropped, every run of characters other than letters and digits one
    space: a drug is in a title when its normal form is a whole-word part of the title's."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[\W_]+", " ", kept).split())


@dataclass(frozen=True)
class Record:
    kind: str  # "pubmed" or "clinical_trial"
    source_id: str | None
    title: str | None
    date: str | None
    journal: str | None


def pubmed_records(data: Path) -> tuple[list[Record], Counter[str]]:
    """Every PubmedArticle and PubmedBookArticle of the PubMed XML files; and how many of each
    element there are."""
    records: list[Record] = []
    elements: Counter[str] = Counter()
    for path in sorted(data.glob("pubmed*.xml*")):
        raw = path.read_bytes()
        root = ET.fromstring(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        for article in root.findall("PubmedArticle"):
            elements["PubmedArticle"] += 1
            art = article.find("MedlineCitation/Article")
            assert art is not None
            date = date_of(art.find("Journal/JournalIssue/PubDate"))
            if date is None:
                date = date_of(art.find("ArticleDate"))
            records.append(
                Record(
                    "pubmed",
                    article.findtext("MedlineCitation/PMID"),
                    text_of(art.find("ArticleTitle")),
                    date,
                    text_of(art.find("Journal/Title")),
                )
            )
        for book in root.findall("PubmedBookArticle"):
            elements["PubmedBookArticle"] += 1
            document = book.find("BookDocument")
            assert document is not None
            chapter = text_of(document.find("ArticleTitle"))
            book_title = text_of(document.find("Book/BookTitle"))
            records.append(
                Record(
                    "pubmed",
                    document.findtext("PMID"),
                    chapter or book_title,
                    date_of(document.find("Book/PubDate")),
                    book_title if chapter else None,
                )
            )
    return records, elements


def study_records(data: Path) -> list[Record]:
    """Every ClinicalTrials.gov study: the official title (else the brief one), the start
    date (else the first posting's, else the first submission's), ``YYYY-MM`` as its 1st."""
    records = []
    for path in sorted(data.glob("NCT*.json")):
        study = json.loads(path.read_text(encoding="utf-8"))
        ident = study["protocolSection"]["identificationModule"]
        status = study["protocolSection"].get("statusModule", {})
        dates = [
            status.get("startDateStruct", {}).get("date"),
            status.get("studyFirstPostDateStruct", {}).get("date"),
            status.get("studyFirstSubmitDate"),
        ]
        date = next((d for d in dates if d), None)
        if date is not None and len(date) == 7:
            date += "-01"
        title = ident.get("officialTitle") or ident.get("briefTitle")
        records.append(Record("clinical_trial", ident["nctId"], title, date, None))
    return records


def drug_names(data: Path) -> list[str]:
    with (data / "drugs_who_atc.csv").open(encoding="utf-8", newline="") as handle:
        return [row["drug"] for row in csv.DictReader(handle)]


@dataclass
class Expected:
    """What the run must give, computed from the files."""

    read: dict[str, int]
    rejected: dict[str, dict[str, int]]
    merged: dict[str, int]
    publications: dict[str, Record]  # node id -> record, those mentioning a drug
    mentions: set[tuple[str, str]]  # (drug, publication node id)
    journal_mentions: set[tuple[str, str, str]]  # (drug, journal in lower case, date)
    pubmed_dates: dict[str, str]  # PMID -> date


def expected_facts(data: Path) -> tuple[Expected, Counter[str]]:
    pubmed, elements = pubmed_records(data)
    studies = study_records(data)
    names = drug_names(data)
    by_form: dict[str, str] = {}
    for name in names:
        by_form.setdefault(normal_form(name), name)
    read = {"pubmed": len(pubmed), "clinical_trials": len(studies), "drugs": len(names)}
    rejected: dict[str, dict[str, int]] = {"pubmed": {}, "clinical_trials": {}, "drugs": {}}
    merged = {"pubmed": 0, "clinical_trials": 0, "drugs": len(names) - len(by_form)}
    publications: dict[str, Record] = {}
    mentions: set[tuple[str, str]] = set()
    journal_mentions: set[tuple[str, str, str]] = set()
    for table, records in (("pubmed", pubmed), ("clinical_trials", studies)):
        kept: dict[tuple[str | None, str, str], Record] = {}  # by id, title, date
        for record in records:
            reason = (
                "missing_title" if not record.title else "missing_date" if not record.date else None
            )
            if reason:
                rejected[table][reason] = rejected[table].get(reason, 0) + 1
                continue
            key = (record.source_id, (record.title or "").lower(), record.date or "")
            if key in kept:  # the same record twice: one publication
                merged[table] += 1
                continue
            kept[key] = record
        for record in kept.values():
            words = f" {normal_form(record.title or '')} "
            found = {name for form, name in by_form.items() if f" {form} " in words}
            node = f"{record.kind}:{record.source_id}"
            if found:
                publications[node] = record
            for name in found:
                mentions.add((name, node))
                if record.journal:
                    journal_mentions.add((name, record.journal.lower(), record.date or ""))
    pubmed_dates = {r.source_id or "": r.date or "" for r in pubmed}
    expected = Expected(
        read, rejected, merged, publications, mentions, journal_mentions, pubmed_dates
    )
    return expected, elements


# --- the run -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    from tests.conftest import shared_path

    data = shared_path("reference-data", "real-world", "data")
    out = tmp_path_factory.mktemp("real-world")
    jobs.run(data, str(out / "lake"), out / "processed", engine="local")
    return data, out / "lake", out / "processed"


@pytest.fixture(scope="module")
def expected(real_run: tuple[Path, Path, Path]) -> Expected:
    facts, elements = expected_facts(real_run[0])
    # the folder's SOURCES.md: 502 articles, 1 book chapter, 13 studies, 4,937 drugs
    assert elements == {"PubmedArticle": 502, "PubmedBookArticle": 1}
    assert facts.read == {"pubmed": 503, "clinical_trials": 13, "drugs": 4937}
    return facts


def _report(real_run: tuple[Path, Path, Path]) -> dict:
    return json.loads((real_run[2] / "run_report.json").read_text(encoding="utf-8"))


def _graph(real_run: tuple[Path, Path, Path]) -> dict:
    return json.loads((real_run[2] / "graph.json").read_text(encoding="utf-8"))


def test_every_record_read_is_accounted_for(
    real_run: tuple[Path, Path, Path], expected: Expected
) -> None:
    sources = _report(real_run)["sources"]
    for table, read in expected.read.items():
        account = sources[table]
        assert account["read"] == read, table
        assert account["rejected_by_reason"] == expected.rejected[table], table
        assert account["merged"] == expected.merged[table], table
        assert account["published"] == read - account["merged"] - account["rejected"], table
    # the two studies AACT trimmed have no date at all: missing, not invalid
    assert sources["clinical_trials"]["rejected_by_reason"] == {"missing_date": 2}
    rejected = [
        json.loads(line)
        for line in (real_run[2] / "rejected_rows.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert sorted((Path(r["file"]).name, r["reason"]) for r in rejected) == [
        ("NCT00465816.json", "missing_date"),
        ("NCT03453554.json", "missing_date"),
    ]


def test_season_and_month_ranges_are_their_first_month(
    real_run: tuple[Path, Path, Path], expected: Expected
) -> None:
    table = Lake(real_run[1]).read_table("pubmed").to_pylist()
    dates = {row["source_id"]: row["date"] for row in table}
    assert dates == expected.pubmed_dates
    # stated by hand from the files' <Season> and <MedlineDate> elements
    assert dates["37868702"] == "2023-07-01"  # 2023 Jul-Oct
    assert dates["32292800"] == "2019-09-01"  # 2019 Sep-Dec
    assert dates["32490903"] == "2020-04-01"  # 2020 Apr-Jun
    assert dates["35830032"] == "2022-04-01"  # 2022 Apr-Jun
    assert dates["32437181"] == "2020-07-01"  # 2020 Jul-Aug
    assert dates["23657305"] == "2013-01-01"  # 2013 Jan-Mar
    assert dates["39479534"] == "2021-03-01"  # 2021 Spring


def test_the_book_chapter_is_a_publication(real_run: tuple[Path, Path, Path]) -> None:
    table = Lake(real_run[1]).read_table("pubmed").to_pylist()
    (chapter,) = [row for row in table if row["source_id"] == "20301577"]
    assert (chapter["title"], chapter["journal"], chapter["date"]) == (
        "CACNA1C-Related Disorders",
        "GeneReviews®",
        "1993-01-01",
    )


def test_the_graph_holds_the_mentions_the_rules_give(
    real_run: tuple[Path, Path, Path], expected: Expected
) -> None:
    graph = _graph(real_run)
    nodes = {n["id"]: n for n in graph["nodes"]}
    drugs = {n["name"] for n in nodes.values() if n["type"] == "drug"}
    assert len(drugs) == expected.read["drugs"] - expected.merged["drugs"]
    publications = {
        node_id: node
        for node_id, node in nodes.items()
        if node["type"] in ("pubmed", "clinical_trial")
    }
    assert set(publications) == set(expected.publications)
    for node_id, record in expected.publications.items():
        node = publications[node_id]
        assert (node["title"], node["date"]) == (record.title, record.date), node_id
        assert (node["journal"] or "").lower() == (record.journal or "").lower(), node_id
    mentions = {
        (nodes[e["source"]]["name"], e["target"])
        for e in graph["edges"]
        if nodes[e["target"]]["type"] != "journal"
    }
    assert mentions == expected.mentions
    journal_mentions = {
        (nodes[e["source"]]["name"], nodes[e["target"]]["name"].lower(), e["date"])
        for e in graph["edges"]
        if nodes[e["target"]]["type"] == "journal"
    }
    assert journal_mentions == expected.journal_mentions


def test_chosen_titles_mention_the_drugs_they_name(
    real_run: tuple[Path, Path, Path], expected: Expected
) -> None:
    """A few titles read by hand: the drugs each names, as whole words."""
    by_publication: dict[str, set[str]] = defaultdict(set)
    for name, node in expected.mentions:
        by_publication[node].add(name)
    # "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    assert by_publication["pubmed:29768149"] == {"BUDESONIDE", "FORMOTEROL"}
    graph = _graph(real_run)
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    assert ("drug:BUDESONIDE", "pubmed:29768149") in edges
    assert ("drug:FORMOTEROL", "pubmed:29768149") in edges


@pytest.mark.parametrize(
    ("name", "source_type", "says"),
    [
        (
            "NCT00023673.json",
            "ctgov_json",
            "ClinicalTrials.gov classic API (v1) JSON (FullStudiesResponse), not the API v2 "
            "study JSON this reader reads: fetch the study from API v2 instead: "
            "https://clinicaltrials.gov/api/v2/studies/NCT00023673",
        ),
        (
            "NCT04780763.json",
            "ctgov_json",
            "fetch the study from API v2 instead: "
            "https://clinicaltrials.gov/api/v2/studies/NCT04780763",
        ),
        (
            "ctgov_v1_covid-19-search.json",
            "ctgov_json",
            "fetch the studies from API v2 instead: https://clinicaltrials.gov/api/v2/studies/",
        ),
        ("pubmed_elink_result.xml", "pubmed_xml", "an NCBI ELink result (<eLinkResult>"),
        (
            "pubmed_medline16n0902.xml.gz",
            "pubmed_xml",
            "MEDLINE citation XML (<MedlineCitationSet>",
        ),
    ],
)
def test_neighbouring_formats_are_refused_saying_what_to_fetch(
    name: str, source_type: str, says: str
) -> None:
    from tests.conftest import shared_path

    path = shared_path("reference-data", "real-world", "refused-formats", name)
    with pytest.raises(UnsupportedFormatError) as err:
        list(get_reader(source_type)(str(path)))
    assert says in str(err.value)
    assert str(err.value).startswith(f"{path}: ")
    assert "\n" not in str(err.value)
    assert err.value.file == str(path)
