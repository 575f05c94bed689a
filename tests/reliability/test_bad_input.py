"""The bad input corpus: each defect a nightly run may meet, with the outcome a user gets.

Every case ends one of two ways:

- an **error**: exit code 2, exactly one ``error:`` line on stderr naming the file and the
  position (line, column, byte) where it is known, no traceback, no output written;
- a **repair or rejection**: exit code 0, the repair listed in ``run_report.json`` (``repairs``)
  or the row listed in ``rejected_rows.jsonl`` with its reason, and the row accounting
  (read = published + merged + rejected) holding for every source.

The error cases also run through the installed ``datapipeline`` command in subprocesses.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from datapipeline.cli import main
from datapipeline.lake import Lake
from tests.reliability.conftest import HEADER, check_accounts, make_data

COMMAND = Path(sys.executable).parent / "datapipeline"
TEN_MB_TITLE = "ethanol " + "x" * (10 * 1024 * 1024)


@dataclass(frozen=True)
class ErrorCase:
    """Input that must stop the run with one line: ``error: <file>: <message>``."""

    name: str
    files: dict[str, str | bytes | None]
    file: str  # the file the error names ("" for the data folder itself)
    message: str  # the text that follows "<file>: " (the position and what was expected)


@dataclass(frozen=True)
class RepairCase:
    """Input that runs: repaired (listed in the report) or rejected row by row (counted)."""

    name: str
    files: dict[str, str | bytes | None]
    repairs: list[tuple[str, str]] = field(default_factory=list)  # (file, repair id)
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)  # table -> reason -> rows
    published: dict[str, int] = field(default_factory=dict)  # table -> rows published
    titles: list[str] = field(default_factory=list)  # publication titles in graph.json


def pubmed(*rows: str) -> str:
    return HEADER + "".join(r + "\n" for r in rows)


PUBMED_SET = '<?xml version="1.0"?>\n<PubmedArticleSet>\n{}\n</PubmedArticleSet>\n'


def _article(pmid: int, pub_date: str, title: str = "Ethanol") -> str:
    return (
        f"<PubmedArticle><MedlineCitation><PMID Version='1'>{pmid}</PMID><Article><Journal>"
        f"<JournalIssue><PubDate>{pub_date}</PubDate></JournalIssue><Title>J</Title></Journal>"
        f"<ArticleTitle>{title}</ArticleTitle></Article></MedlineCitation></PubmedArticle>\n"
    )


def _gzip_bomb() -> bytes:
    """40 MB of XML in one title, gzipped to about 40 KB."""
    xml = PUBMED_SET.format(_article(1, "<Year>2020</Year>", "ethanol " * 5_000_000))
    return gzip.compress(xml.encode(), compresslevel=9)


V1_STUDY = json.dumps(
    {
        "FullStudiesResponse": {
            "APIVrs": "1.01.05",
            "FullStudies": [
                {
                    "Rank": 1,
                    "Study": {
                        "ProtocolSection": {"IdentificationModule": {"NCTId": "NCT00023673"}}
                    },
                }
            ],
        }
    }
)

ERROR_CASES = [
    ErrorCase(
        "truncated JSON",
        {"pubmed.json": '[{"id": 1, "title": "Ethanol", "date": "2020-01-01"'},
        "pubmed.json",
        "line 1 column 52: invalid JSON (Expecting ',' delimiter)",
    ),
    ErrorCase(
        "truncated JSON array",
        {"pubmed.json": '[\n{"id": 1, "title": "a", "date": "2020-01-01", "journal": "J"},\n'},
        "pubmed.json",
        "line 3 column 1: invalid JSON (Expecting value)",
    ),
    ErrorCase(
        "invalid JSON",
        {"pubmed.json": '[{"id": 1,\n "title": "a" "date": "2020-01-01"}]'},
        "pubmed.json",
        "line 2 column 15: invalid JSON (Expecting ',' delimiter)",
    ),
    ErrorCase(
        "JSON records that are not objects",
        {"pubmed.json": '[{"id": 1}, [2]]'},
        "pubmed.json",
        "record 2: expected a JSON object, found list",
    ),
    ErrorCase(
        "JSON nested 100,000 deep",
        {"pubmed.json": "[" * 100_000 + "]" * 100_000},
        "pubmed.json",
        "line 1 column 2: JSON nested too deeply",
    ),
    ErrorCase(
        "a value nested 100,000 deep",
        {"pubmed.json": '[{"id": 1},\n {"id": ' + "[" * 100_000 + "]" * 100_000 + "}]"},
        "pubmed.json",
        "line 2 column 2: JSON nested too deeply",
    ),
    ErrorCase(
        "missing column",
        {"pubmed.csv": "id,title,journal\n1,Ethanol,J\n"},
        "pubmed.csv",
        "missing column 'date' or 'publication_date' for pubmed; found columns: id, title, journal",
    ),
    ErrorCase(
        "renamed column",
        {"pubmed.csv": "id,heading,date,journal\n1,Ethanol,01/01/2020,J\n"},
        "pubmed.csv",
        "missing column 'title' or 'article_title' for pubmed; "
        "found columns: id, heading, date, journal",
    ),
    ErrorCase("empty CSV", {"pubmed.csv": ""}, "pubmed.csv", "empty file, expected a header row"),
    ErrorCase(
        "empty JSON",
        {"pubmed.json": "  \n"},
        "pubmed.json",
        "empty file, expected a JSON array of records",
    ),
    ErrorCase(
        "missing source file",
        {"clinical_trials.csv": None},
        "",
        "no clinical_trials source: expected a file named clinical_trials*.csv or nct*.json or ctgov*.json",
    ),
    ErrorCase(
        "ragged CSV row",
        {"pubmed.csv": pubmed("1,Ethanol,01/01/2020,J", "2,Atropine,01/01/2020,J,extra,more")},
        "pubmed.csv",
        "line 3: 6 fields, the header has 4",
    ),
    ErrorCase(
        "unclosed quote",
        {"pubmed.csv": pubmed("1,Ethanol,01/01/2020,J", '2,"Atropine,01/01/2020,J', "3,a,b,c")},
        "pubmed.csv",
        "line 3: a quoted field opened on this line is never closed",
    ),
    ErrorCase(
        "a name twice in a CSV header",
        {"drugs.csv": "atccode,drug,drug\nA01,ETHANOL,ATROPINE\n"},
        "drugs.csv",
        "column 'drug' appears 2 times in the header; drugs needs one name column: keep one",
    ),
    ErrorCase(
        "two spellings of one column",
        {"clinical_trials.csv": "id,title,scientific_title,date,journal\nN1,A,B,2020-01-01,J\n"},
        "clinical_trials.csv",
        "columns 'title' and 'scientific_title' are both the title of clinical_trials: keep one",
    ),
    ErrorCase(
        "ClinicalTrials.gov classic API (v1) file",
        {"NCT00023673.json": V1_STUDY},
        "NCT00023673.json",
        "ClinicalTrials.gov classic API (v1) JSON (FullStudiesResponse), not the API v2 study "
        "JSON this reader reads: fetch the study from API v2 instead: "
        "https://clinicaltrials.gov/api/v2/studies/NCT00023673",
    ),
    ErrorCase(
        "ClinicalTrials.gov module that is not an object",
        {"NCT1.json": '{"protocolSection": {"identificationModule": ["NCT1"]}}'},
        "NCT1.json",
        "study 1: protocolSection.identificationModule: expected an object, found an array",
    ),
    ErrorCase(
        "MEDLINE citation XML of 2016",
        {"pubmed_medline16.xml": '<?xml version="1.0"?>\n<MedlineCitationSet/>\n'},
        "pubmed_medline16.xml",
        "MEDLINE citation XML (<MedlineCitationSet>, the format of PubMed's baseline before "
        "2017), not a PubmedArticleSet: download the current baseline or update files "
        "(pubmed<yy>n<nnnn>.xml.gz) or fetch the records with EFetch (db=pubmed, retmode=xml, "
        "id=<PMIDs>)",
    ),
    ErrorCase(
        "a gzipped PubMed file inflating to one 40 MB title",
        {"pubmed_bomb.xml.gz": _gzip_bomb()},
        "pubmed_bomb.xml.gz",
        "record 1: more than 33,554,432 bytes of XML in one record, from inflated byte 0 "
        "(reader option max_record_bytes)",
    ),
    ErrorCase(
        "XML declaring an unknown encoding",
        {"pubmed.xml": '<?xml version="1.0" encoding="no-such"?><PubmedArticleSet/>'},
        "pubmed.xml",
        "line 1: the XML declaration names an encoding that cannot be read (unknown encoding: "
        "no-such)",
    ),
    ErrorCase(
        "UTF-16 byte-order mark on bytes that are not UTF-16",
        {"pubmed.csv": b"\xff\xfei\x00d\x00\x00\xd8"},
        "pubmed.csv",
        "byte 6: starts with a utf-16 byte-order mark but is not valid in that encoding",
    ),
]


REPAIR_CASES = [
    RepairCase(
        "cp1252 file",
        {"pubmed.csv": pubmed("1,Café ethanol 5 €,01/01/2020,J").encode("cp1252")},
        repairs=[("pubmed.csv", "decoded_as_cp1252")],
        published={"pubmed": 1},
        titles=["Café ethanol 5 €"],
    ),
    RepairCase(
        # 0x81 is undefined in cp1252: only latin-1 reads it (a C1 control: white space rule).
        "latin-1 file",
        {"pubmed.csv": pubmed("1,Café\x81 ethanol,01/01/2020,J").encode("latin-1")},
        repairs=[("pubmed.csv", "decoded_as_latin-1")],
        published={"pubmed": 1},
        titles=["Café ethanol"],
    ),
    RepairCase(
        "UTF-16 file with BOM",
        {"pubmed.csv": pubmed("1,Œdème ethanol,01/01/2020,J").encode("utf-16")},
        repairs=[("pubmed.csv", "decoded_as_utf-16")],
        published={"pubmed": 1},
        titles=["Œdème ethanol"],
    ),
    RepairCase(
        "UTF-16 JSON with BOM",
        {
            "pubmed.json": '[{"id": 7, "title": "Ethanol ß", "date": "2020-01-01", "journal": "J"}]'.encode(
                "utf-16"
            )
        },
        repairs=[("pubmed.json", "decoded_as_utf-16")],
        published={"pubmed": 1},
        titles=["Ethanol ß"],
    ),
    RepairCase(
        "UTF-8 with BOM (valid: no repair)",
        {"pubmed.csv": b"\xef\xbb\xbf" + pubmed("1,Ethanol,01/01/2020,J").encode()},
        published={"pubmed": 1},
        titles=["Ethanol"],
    ),
    RepairCase(
        "trailing comma in a JSON array",
        {"pubmed.json": '[{"id": 1, "title": "Ethanol", "date": "2020-01-01", "journal": "J"},]'},
        repairs=[("pubmed.json", "trailing_comma_ignored")],
        published={"pubmed": 1},
    ),
    RepairCase(
        "alias of a column",
        {
            "pubmed.csv": "pmid,article_title,publication_date,journal_title\n1,Ethanol,2020-01-01,J\n"
        },
        published={"pubmed": 1},
    ),
    RepairCase("header-only file", {"pubmed.csv": HEADER}, published={"pubmed": 0}),
    RepairCase(
        "impossible dates",
        {
            "pubmed.csv": pubmed(
                "1,Ethanol,31/02/2020,J", "2,Ethanol,2021-13-01,J", "3,Ethanol,01/03/2020,J"
            )
        },
        rejected={"pubmed": {"invalid_date": 2}},
        published={"pubmed": 1},
    ),
    RepairCase(
        "rows shorter than the header",
        {"pubmed.csv": pubmed("1,Ethanol", "2,Atropine,01/01/2020,J")},
        rejected={"pubmed": {"missing_date": 1}},
        published={"pubmed": 1},
    ),
    RepairCase(
        # absent is missing, present but unreadable or impossible is invalid
        "empty and impossible dates",
        {
            "pubmed.csv": pubmed(
                "1,Ethanol,,J", '2,Ethanol," ",J', "3,Ethanol,0000-01-01,J", "4,Ethanol,soon,J"
            ),
            "pubmed.json": '[{"id": 5, "title": "Atropine", "date": null, "journal": "J"}]',
        },
        rejected={"pubmed": {"missing_date": 3, "invalid_date": 2}},
        published={"pubmed": 0},
    ),
    RepairCase(
        "impossible PubMed dates",
        {
            "pubmed.xml": PUBMED_SET.format(
                _article(1, "<Year>2020</Year><Month>13</Month>")
                + _article(2, "<Year>2020</Year><Month>00</Month>")
                + _article(3, "<Year>2020</Year><Month>May</Month><Day>0</Day>")
                + _article(4, "<Year>0000</Year>")
                + _article(5, "<Year>2020</Year><Season>Sep-Dec</Season>")
            )
        },
        rejected={"pubmed": {"invalid_date": 4}},
        published={"pubmed": 1},
    ),
    RepairCase(
        "CSV lines ending in CR alone (old Mac), and a mix",
        {
            "drugs.csv": "atccode,drug\rA01,ETHANOL\rB02,ATROPINE\r",
            "pubmed.csv": "id,title,date,journal\r1,Ethanol,01/01/2020,J\n2,Atropine,01/01/2020,J\r\n",
        },
        published={"drugs": 2, "pubmed": 2},
        titles=["Atropine", "Ethanol"],
    ),
    RepairCase(
        "10 MB title",
        {"pubmed.csv": pubmed(f"1,{TEN_MB_TITLE},01/01/2020,J")},
        published={"pubmed": 1},
        titles=[TEN_MB_TITLE],
    ),
    RepairCase(
        # NUL and other control characters are white space (documented cleaning rule).
        "NUL bytes in CSV and JSON",
        {
            "pubmed.csv": pubmed("1,Ethanol\x00\x00 and\x00atropine,01/01/2020,J\x00"),
            "pubmed.json": '[{"id": 2, "title": "Atropine\\u0000study", "date": "2020-01-01", "journal": "J"}]',
        },
        published={"pubmed": 2},
        titles=["Atropine study", "Ethanol and atropine"],
    ),
    RepairCase(
        # graph.json is JSON, not a spreadsheet: the text is data and is kept as it was.
        "formula-like titles",
        {
            "pubmed.csv": pubmed(
                "1,\"=cmd|' /C calc'!A0 ethanol\",01/01/2020,=J",
                "2,+ethanol,01/01/2020,J",
                "3,-ethanol,01/01/2020,J",
                "4,@ethanol,01/01/2020,J",
            )
        },
        published={"pubmed": 4},
        titles=["+ethanol", "-ethanol", "=cmd|' /C calc'!A0 ethanol", "@ethanol"],
    ),
]


def _run(data: Path, tmp_path: Path) -> list[str]:
    return [
        "run",
        "--data-dir",
        str(data),
        "--output-dir",
        str(tmp_path / "out"),
        "--lake",
        str(tmp_path / "lake"),
    ]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _expected_line(case: ErrorCase, data: Path) -> str:
    where = data / case.file if case.file else data
    return f"error: {where}: {case.message}"


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.name)
def test_bad_input_is_one_clear_error_line(
    case: ErrorCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_data(tmp_path / "data", case.files)
    code = main(_run(data, tmp_path))
    err = capsys.readouterr().err
    assert code == 2
    assert _error_lines(err) == [_expected_line(case, data)]
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", REPAIR_CASES, ids=lambda c: c.name)
def test_defects_are_repaired_or_rejected_and_counted(case: RepairCase, tmp_path: Path) -> None:
    data = make_data(tmp_path / "data", case.files)
    assert main(_run(data, tmp_path)) == 0
    out = tmp_path / "out"
    report = check_accounts(out)
    assert report["repairs"] == [
        {"file": str(data / name), "repair": repair} for name, repair in sorted(case.repairs)
    ]
    sources = report["sources"]
    assert isinstance(sources, dict)
    for table, reasons in case.rejected.items():
        assert sources[table]["rejected_by_reason"] == reasons
    for table, rows in case.published.items():
        assert sources[table]["published"] == rows
    rejected = [json.loads(line) for line in (out / "rejected_rows.jsonl").read_text().splitlines()]
    for row in rejected:  # every rejected row names its file and row
        assert Path(row["file"]).parent == data
        assert row["row"] >= 1
    if case.titles:
        graph = json.loads((out / "graph.json").read_text(encoding="utf-8"))
        titles = sorted(n["title"] for n in graph["nodes"] if n["type"] == "pubmed")
        assert titles == sorted(case.titles)
    assert not list(out.glob("*.csv"))  # the project writes no CSV (no formula injection)


def test_a_repair_is_told_once(tmp_path: Path) -> None:
    """In `run`, a repair is one `repaired:` line of the summary, not also a warning."""
    data = make_data(
        tmp_path / "data", {"pubmed.csv": pubmed("1,Café,01/01/2020,J").encode("cp1252")}
    )
    done = subprocess.run(
        [str(COMMAND), *_run(data, tmp_path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    told = (done.stdout + done.stderr).count(str(data / "pubmed.csv"))
    assert f"repaired: {data / 'pubmed.csv'}: decoded_as_cp1252" in done.stdout
    assert told == 1, done.stdout + done.stderr
    assert "WARNING" not in done.stderr


def test_a_repair_outside_run_is_a_warning(tmp_path: Path) -> None:
    """`datapipeline import` has no summary: its warning is the only trace of the repair."""
    data = make_data(
        tmp_path / "data", {"pubmed.csv": pubmed("1,Café,01/01/2020,J").encode("cp1252")}
    )
    source = str(data / "pubmed.csv")
    args = ["import", "--source", source, "--source_type", "csv", "--dest_table", "pubmed"]
    done = subprocess.run(
        [str(COMMAND), *args, "--output_folder", str(tmp_path / "lake")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"WARNING: {source}: not valid UTF-8; decoded as cp1252" in done.stderr


def test_a_missing_file_given_to_import_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    args = ["import", "--source", str(missing), "--source_type", "csv", "--dest_table", "pubmed"]
    code = main([*args, "--output_folder", str(tmp_path / "lake")])
    assert code == 2
    assert _error_lines(capsys.readouterr().err) == [f"error: {missing}: file not found"]


def test_every_error_case_through_the_real_command(tmp_path: Path) -> None:
    """The installed command, in parallel subprocesses: same line, exit 2, no traceback.

    A few at a time: all 21 at once on two loaded cores let one wait past its hang guard."""

    def run(
        index: int, case: ErrorCase
    ) -> tuple[ErrorCase, Path, subprocess.CompletedProcess[str]]:
        root = tmp_path / f"case{index}"
        data = make_data(root / "data", case.files)
        done = subprocess.run(
            [str(COMMAND), *_run(data, root)],
            capture_output=True,
            text=True,
            timeout=600,  # a hang guard, not a speed check
            check=False,
        )
        return case, data, done

    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        runs = list(pool.map(run, range(len(ERROR_CASES)), ERROR_CASES))
    for case, data, done in runs:
        assert done.returncode == 2, (case.name, done.stderr)
        assert "Traceback" not in done.stderr, case.name
        assert _error_lines(done.stderr) == [_expected_line(case, data)], case.name


@pytest.mark.slow
def test_three_thousand_small_files_are_each_imported_and_counted(tmp_path: Path) -> None:
    """Every one of 3,000 small files is read, published and named in the lake, the files
    packed into one part (how fast is a benchmark's question, not a test's)."""
    files: dict[str, str | bytes | None] = {
        f"pubmed_{i:04d}.csv": pubmed(f"{i},Ethanol {i},01/01/2020,J") for i in range(3000)
    }
    data = make_data(tmp_path / "data", files)
    assert main(_run(data, tmp_path)) == 0
    report = check_accounts(tmp_path / "out")
    assert report["sources"]["pubmed"]["published"] == 3000  # type: ignore[index]
    # small files share a part, which names each of them (3,000 CSV + pubmed.csv/json)
    assert len(list((tmp_path / "lake" / "pubmed").glob("*.parquet"))) == 1
    held = Lake(tmp_path / "lake").manifest().sources("pubmed")
    assert len(held) == 3002
    assert sum(f.entry.rows for f in held) == 3000
    assert str(data / "pubmed_2999.csv") in {f.entry.source for f in held}
