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
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from datapipeline.errors import InputError
from datapipeline.extract.encoding import decode_to_utf8
from datapipeline.extract.files import parse_json_records
from datapipeline.extract.registry import register
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

COLUMNS = ("nct_id", "official_title", "start_date", "journal")
DATE_FIELDS = ("startDateStruct", "studyFirstPostDateStruct", "studyFirstSubmitDate")


def _get(record: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


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


def study_row(study: dict[str, Any]) -> tuple[str | None, str | None, str | None, None]:
    """(id, title, date, journal) of one study record."""
    protocol = study.get("protocolSection")
    ident = _get(protocol, "identificationModule") or {}
    status = _get(protocol, "statusModule") or {}
    title = ident.get("officialTitle") or ident.get("briefTitle")
    date = None
    for name in DATE_FIELDS:
        value = status.get(name)
        date = complete_date(value.get("date") if isinstance(value, dict) else value)
        if date:
            break
    nct = ident.get("nctId")
    return (
        str(nct) if nct is not None else None,
        str(title) if title is not None else None,
        date,
        None,
    )


def _studies(data: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    if len(data) == 1 and isinstance(data[0].get("studies"), list):
        studies = data[0]["studies"]
    else:
        studies = data
    for index, study in enumerate(studies, start=1):
        if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
            raise InputError(
                f"{source}: study {index}: expected an object with a 'protocolSection' "
                "(ClinicalTrials.gov API v2 study JSON)"
            )
    return studies


@register("ctgov_json")
def read_ctgov_json(source: str, **options: object) -> Iterator[pa.RecordBatch]:
    """Read ClinicalTrials.gov study JSON (one study, a ``studies`` page, an array or lines)."""
    try:
        raw = Path(source).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{source}: file not found") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot be read ({exc.strerror})") from None
    decoded = decode_to_utf8(raw, source)
    studies = _studies(parse_json_records(decoded.data.decode("utf-8"), source), source)
    rows = [study_row(s) for s in studies]
    arrays = [pa.array([r[i] for r in rows], pa.string()) for i in range(len(COLUMNS))]
    arrays.append(pa.repeat(pa.scalar(source, pa.string()), len(rows)))
    arrays.append(pa.array(range(1, len(rows) + 1), pa.int64()))
    yield pa.RecordBatch.from_arrays(arrays, names=[*COLUMNS, SOURCE_FILE, SOURCE_ROW])
