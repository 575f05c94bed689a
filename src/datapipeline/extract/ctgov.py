"""ClinicalTrials.gov reader: study records in the JSON shape of its API v2.

A file holds one study (``{"protocolSection": {...}, ...}``), a page of the ``/studies``
endpoint (``{"studies": [...], "nextPageToken": "..."}``), a JSON array of studies, or JSON
Lines of studies. One row per study:

- ``protocolSection.identificationModule.nctId`` → ``id``;
- ``officialTitle`` (the scientific title), else ``briefTitle`` → ``title``;
- ``protocolSection.statusModule``: ``startDateStruct.date``, else
  ``studyFirstPostDateStruct.date``, else ``studyFirstSubmitDate`` → ``date``, ``YYYY-MM``
  completed to the first of the month (``YYYY-MM-01``), ``YYYY`` to January 1st;
- no journal in ClinicalTrials.gov: ``journal`` stays empty (null).

A module or field read here that is of the wrong JSON type (a module that is not an object, a
title that is not a string) is an error naming the study and the field; ``null`` is an absent
value. A file of the classic API (v1, ``FullStudiesResponse``) is refused with the API v2
address of its studies.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from datapipeline.errors import BadFileError, UnsupportedFormatError
from datapipeline.extract.edge import guarded
from datapipeline.extract.encoding import decode_to_utf8
from datapipeline.extract.files import parse_json_records, read_input_bytes
from datapipeline.extract.registry import register
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

COLUMNS = ("nct_id", "official_title", "start_date", "journal")
DATE_FIELDS = ("startDateStruct", "studyFirstPostDateStruct", "studyFirstSubmitDate")
API_V2_STUDY = "https://clinicaltrials.gov/api/v2/studies/"
#: Top-level keys of the classic API's (v1) JSON responses.
V1_RESPONSES = ("FullStudiesResponse", "StudyFieldsResponse")

_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


class _Study:
    """One study record, read field by field with the JSON type each field must have."""

    def __init__(self, record: dict[str, Any], index: int, source: str) -> None:
        self.record = record
        self.index = index
        self.source = source

    def typed(self, path: tuple[str, ...], kind: type, expected: str) -> Any:
        """The value at ``path`` (None when absent or null), which must be a ``kind``
        (``expected`` in words); every object on the way must be an object."""
        value: Any = self.record
        for depth, key in enumerate(path, start=1):
            value = value.get(key)
            if value is None:
                return None
            wanted, name = (kind, expected) if depth == len(path) else (dict, "an object")
            if not isinstance(value, wanted) or isinstance(value, bool):
                found = _JSON_TYPES.get(type(value), type(value).__name__)
                raise BadFileError(
                    self.source,
                    f"study {self.index}: {'.'.join(path[:depth])}: expected {name}, found {found}",
                )
        return value

    def text(self, *path: str) -> str | None:
        """The string at ``path`` (None when absent or null)."""
        value: str | None = self.typed(path, str, "a string")
        return value

    def date(self, status: tuple[str, ...], field: str) -> str | None:
        """A date field of the status module: a ``{"date": ...}`` struct or a string."""
        if field.endswith("Struct"):
            self.typed((*status, field), dict, "an object")
            return complete_date(self.text(*status, field, "date"))
        return complete_date(self.text(*status, field))


def complete_date(text: object) -> str | None:
    """``YYYY-MM-DD`` as is; ``YYYY-MM`` → ``YYYY-MM-01``; ``YYYY`` → ``YYYY-01-01``."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text
    if re.fullmatch(r"\d{4}-\d{2}", text):
        return f"{text}-01"
    if re.fullmatch(r"\d{4}", text):
        return f"{text}-01-01"
    return text or None  # left for the cleaning rules to judge (and reject if unreadable)


def study_row(study: _Study) -> tuple[str | None, str | None, str | None, None]:
    """(id, title, date, journal) of one study record."""
    ident = ("protocolSection", "identificationModule")
    status = ("protocolSection", "statusModule")
    study.typed(ident, dict, "an object")
    study.typed(status, dict, "an object")
    title = study.text(*ident, "officialTitle") or study.text(*ident, "briefTitle")
    date = None
    for name in DATE_FIELDS:
        date = study.date(status, name)
        if date:
            break
    return study.text(*ident, "nctId"), title, date, None


def _refuse_v1(data: list[dict[str, Any]], source: str) -> None:
    """A classic API (v1) response is refused, with the API v2 address of its studies."""
    if len(data) != 1 or not any(key in data[0] for key in V1_RESPONSES):
        return
    name = next(key for key in V1_RESPONSES if key in data[0])
    response = data[0][name] if isinstance(data[0][name], dict) else {}
    studies = response.get("FullStudies") or response.get("StudyFields") or []
    studies = studies if isinstance(studies, list) else []
    ncts = [_v1_nct(s) for s in studies if isinstance(s, dict)]
    ncts = [n for n in ncts if n]
    where = f"{API_V2_STUDY}<NCT id>"
    if len(ncts) == 1:
        where = f"the study from API v2 instead: {API_V2_STUDY}{ncts[0]}"
    elif ncts:
        where = (
            f"the studies from API v2 instead: {API_V2_STUDY}{ncts[0]} and the "
            f"{len(ncts) - 1} others the same way"
        )
    else:
        where = f"the studies from API v2 instead: {where}"
    raise UnsupportedFormatError(
        source,
        f"ClinicalTrials.gov classic API (v1) JSON ({name}), not the API v2 study JSON this "
        f"reader reads: fetch {where}",
    )


def _v1_nct(study: dict[str, Any]) -> str | None:
    """The NCT id of a v1 study (``Study.ProtocolSection.IdentificationModule.NCTId``), or of
    a v1 study-fields row (``NCTId``: a list of one)."""
    found: Any = study.get("Study")
    for key in ("ProtocolSection", "IdentificationModule", "NCTId"):
        found = found.get(key) if isinstance(found, dict) else None
    if found is None:
        found = study.get("NCTId")
    if isinstance(found, list) and found:
        found = found[0]
    return found if isinstance(found, str) else None


def _studies(data: list[dict[str, Any]], source: str) -> list[_Study]:
    _refuse_v1(data, source)
    if len(data) == 1 and isinstance(data[0].get("studies"), list):
        studies = data[0]["studies"]
    else:
        studies = data
    for index, study in enumerate(studies, start=1):
        if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
            raise BadFileError(
                source,
                f"study {index}: expected an object with a 'protocolSection' "
                "(ClinicalTrials.gov API v2 study JSON)",
            )
    return [_Study(study, index, source) for index, study in enumerate(studies, start=1)]


@register("ctgov_json")
@guarded
def read_ctgov_json(source: str, **options: object) -> Iterator[pa.RecordBatch]:
    """Read ClinicalTrials.gov study JSON (one study, a ``studies`` page, an array or lines)."""
    decoded = decode_to_utf8(read_input_bytes(source), source)
    studies = _studies(parse_json_records(decoded.data.decode("utf-8"), source), source)
    rows = [study_row(s) for s in studies]
    arrays = [pa.array([r[i] for r in rows], pa.string()) for i in range(len(COLUMNS))]
    arrays.append(pa.repeat(pa.scalar(source, pa.string()), len(rows)))
    arrays.append(pa.array(range(1, len(rows) + 1), pa.int64()))
    yield pa.RecordBatch.from_arrays(arrays, names=[*COLUMNS, SOURCE_FILE, SOURCE_ROW])
