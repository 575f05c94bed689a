"""ClinicalTrials.gov study JSON (API v2 shape) → the clinical-trial columns."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from datapipeline.errors import BadFileError, InputError, UnsupportedFormatError
from datapipeline.extract import get_reader

read = get_reader("ctgov_json")


def _study(
    nct: str, official: str | None, brief: str | None, **status: object
) -> dict[str, object]:
    ident: dict[str, object] = {"nctId": nct, "organization": {"fullName": "Org"}}
    if official is not None:
        ident["officialTitle"] = official
    if brief is not None:
        ident["briefTitle"] = brief
    return {
        "protocolSection": {
            "identificationModule": ident,
            "statusModule": {"overallStatus": "COMPLETED", **status},
        },
        "hasResults": False,
    }


def _rows(path: Path) -> list[dict[str, object]]:
    return pa.Table.from_batches(list(read(str(path)))).to_pylist()


def test_one_study_per_file(tmp_path: Path) -> None:
    path = tmp_path / "NCT01234567.json"
    study = _study(
        "NCT01234567",
        "A Randomised Trial of Betamethasone",
        "Betamethasone Trial",
        startDateStruct={"date": "2020-01", "type": "ACTUAL"},
        studyFirstSubmitDate="2019-11-02",
    )
    path.write_text(json.dumps(study))
    assert _rows(path) == [
        {
            "nct_id": "NCT01234567",
            "official_title": "A Randomised Trial of Betamethasone",
            "start_date": "2020-01-01",
            "journal": None,
            "_source_file": str(path),
            "_source_row": 1,
        }
    ]


def test_a_studies_page_with_fallbacks(tmp_path: Path) -> None:
    path = tmp_path / "ctgov_page1.json"
    page = {
        "studies": [
            _study("NCT1", None, "Brief only", startDateStruct={"date": "2021-03-15"}),
            _study("NCT2", "Official", "Brief", studyFirstPostDateStruct={"date": "2019-05-02"}),
            _study("NCT3", "Official 3", None, studyFirstSubmitDate="2018"),
            _study("NCT4", "No date", None),
        ],
        "nextPageToken": "NF0g5JeDk_Yw",
    }
    path.write_text(json.dumps(page))
    rows = _rows(path)
    assert [(r["nct_id"], r["official_title"], r["start_date"]) for r in rows] == [
        ("NCT1", "Brief only", "2021-03-15"),
        ("NCT2", "Official", "2019-05-02"),
        ("NCT3", "Official 3", "2018-01-01"),
        ("NCT4", "No date", None),
    ]
    assert [r["_source_row"] for r in rows] == [1, 2, 3, 4]


def test_an_array_of_studies(tmp_path: Path) -> None:
    path = tmp_path / "ctgov.json"
    path.write_text(json.dumps([_study("NCT9", "T", None, startDateStruct={"date": "2022-07"})]))
    assert _rows(path)[0]["start_date"] == "2022-07-01"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            '{"studies": [{"nctId": "NCT1"}]}',
            "study 1: expected an object with a 'protocolSection'",
        ),
        ('{"protocolSection": {"identificationModule": {}}', "line 1 column"),
        ("", "empty file"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "NCT1.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        _rows(path)


def _v1_page(*ncts: str) -> dict[str, object]:
    studies = [
        {
            "Rank": rank,
            "Study": {
                "ProtocolSection": {
                    "IdentificationModule": {"NCTId": nct, "BriefTitle": "A v1 study"},
                    "StatusModule": {"StartDateStruct": {"StartDate": "January 2002"}},
                }
            },
        }
        for rank, nct in enumerate(ncts, start=1)
    ]
    return {
        "FullStudiesResponse": {
            "APIVrs": "1.01.05",
            "NStudiesFound": len(ncts),
            "FullStudies": studies,
        }
    }


def test_a_classic_api_v1_study_says_so_and_what_to_fetch(tmp_path: Path) -> None:
    path = tmp_path / "NCT00023673.json"
    path.write_text(json.dumps(_v1_page("NCT00023673"), indent=2))
    with pytest.raises(UnsupportedFormatError) as err:
        _rows(path)
    assert str(err.value) == (
        f"{path}: ClinicalTrials.gov classic API (v1) JSON (FullStudiesResponse), not the "
        "API v2 study JSON this reader reads: fetch the study from API v2 instead: "
        "https://clinicaltrials.gov/api/v2/studies/NCT00023673"
    )
    assert err.value.file == str(path)
    assert err.value.reason == "unsupported_format"


def test_a_classic_api_v1_search_page_names_its_studies(tmp_path: Path) -> None:
    path = tmp_path / "ctgov_search.json"
    path.write_text(json.dumps(_v1_page("NCT04368728", "NCT04280705", "NCT04283461")))
    with pytest.raises(UnsupportedFormatError) as err:
        _rows(path)
    assert str(err.value).endswith(
        "fetch the studies from API v2 instead: "
        "https://clinicaltrials.gov/api/v2/studies/NCT04368728 and the 2 others the same way"
    )


@pytest.mark.parametrize(
    "document",
    [
        {"FullStudiesResponse": 5},
        {"FullStudiesResponse": {"FullStudies": {"Study": 1}}},
        {"StudyFieldsResponse": {"StudyFields": [{"NCTId": ["NCT01234567"]}, "x"]}},
    ],
)
def test_a_malformed_v1_response_is_still_named_as_v1(
    tmp_path: Path, document: dict[str, object]
) -> None:
    path = tmp_path / "NCT1.json"
    path.write_text(json.dumps(document))
    with pytest.raises(UnsupportedFormatError, match=r"classic API \(v1\) JSON"):
        _rows(path)


@pytest.mark.parametrize(
    ("protocol", "where", "found"),
    [
        ({"identificationModule": ["NCT1"]}, "protocolSection.identificationModule", "an array"),
        ({"identificationModule": "NCT1"}, "protocolSection.identificationModule", "a string"),
        ({"statusModule": 3}, "protocolSection.statusModule", "a number"),
        (
            {"statusModule": {"startDateStruct": ["2020-01"]}},
            "protocolSection.statusModule.startDateStruct",
            "an array",
        ),
        (
            {"identificationModule": {"nctId": "NCT1", "officialTitle": {"text": "T"}}},
            "protocolSection.identificationModule.officialTitle",
            "an object",
        ),
        (
            {"identificationModule": {"nctId": 12345, "briefTitle": "T"}},
            "protocolSection.identificationModule.nctId",
            "a number",
        ),
        (
            {"statusModule": {"startDateStruct": {"date": 2020}}},
            "protocolSection.statusModule.startDateStruct.date",
            "a number",
        ),
    ],
)
def test_a_module_or_field_of_the_wrong_type_is_one_error_naming_it(
    tmp_path: Path, protocol: dict[str, object], where: str, found: str
) -> None:
    path = tmp_path / "NCT1.json"
    good = _study("NCT0", "Fine", None, startDateStruct={"date": "2020-01"})
    path.write_text(json.dumps({"studies": [good, {"protocolSection": protocol}]}))
    with pytest.raises(BadFileError) as err:
        _rows(path)
    assert str(err.value) == f"{path}: study 2: {where}: expected {_expected(where)}, found {found}"


def _expected(where: str) -> str:
    field = where.rsplit(".", 1)[-1]
    return "an object" if field.endswith(("Module", "Struct")) else "a string"


def test_null_modules_and_fields_are_absent_values(tmp_path: Path) -> None:
    path = tmp_path / "NCT1.json"
    study = {
        "protocolSection": {
            "identificationModule": {"nctId": "NCT1", "officialTitle": None, "briefTitle": "B"},
            "statusModule": None,
        }
    }
    path.write_text(json.dumps(study))
    assert [(r["nct_id"], r["official_title"], r["start_date"]) for r in _rows(path)] == [
        ("NCT1", "B", None)
    ]
