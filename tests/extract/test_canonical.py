"""Renaming a reader's columns to a kind's canonical ones: every column resolved once."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from datapipeline.errors import BadFileError, InputError
from datapipeline.extract import get_reader
from datapipeline.extract.canonical import resolve_canonical, to_canonical
from datapipeline.graph import Graph
from datapipeline.schema import CLINICAL_TRIALS, DRUGS, PUBMED


def _read_csv(path: Path, text: str) -> pa.Table:
    path.write_text(text, encoding="utf-8")
    return pa.Table.from_batches(list(get_reader("csv")(str(path))))


@pytest.mark.parametrize(
    ("kind", "header", "message"),
    [
        (DRUGS, "atccode,drug,drug", "column 'drug' appears 2 times in the header"),
        (DRUGS, "atccode,drug,Drug", "columns 'drug' and 'Drug' are both the name of drugs"),
        (DRUGS, "drug,atccode,name", "columns 'drug' and 'name' are both the name of drugs"),
        (
            CLINICAL_TRIALS,
            "id,title,scientific_title,date,journal",
            "columns 'title' and 'scientific_title' are both the title of clinical_trials",
        ),
        (PUBMED, "id,pmid,title,date,journal", "columns 'id' and 'pmid' are both the source_id"),
        (
            PUBMED,
            "id,title,date,journal,journal_title,Journal",
            "columns 'journal', 'journal_title' and 'Journal' are all the journal of pubmed",
        ),
    ],
)
def test_two_columns_for_one_canonical_column_are_one_error_naming_them(
    tmp_path: Path, kind: object, header: str, message: str
) -> None:
    path = tmp_path / "in.csv"
    values = ",".join(f"v{i}" for i in range(len(header.split(","))))
    table = _read_csv(path, f"{header}\n{values}\n")
    with pytest.raises(BadFileError) as err:
        to_canonical(table, kind, str(path))  # type: ignore[arg-type]
    assert str(err.value).startswith(f"{path}: {message}")
    assert str(err.value).endswith("keep one")
    assert err.value.file == str(path)
    assert err.value.reason == "duplicate_column"


def test_a_repeated_column_the_kind_does_not_use_is_dropped_like_any_extra_column(
    tmp_path: Path,
) -> None:
    path = tmp_path / "in.csv"
    table = _read_csv(path, "atccode,drug,notes,notes\nA1,ETHANOL,x,y\n")
    canonical = to_canonical(table, DRUGS, str(path))
    assert canonical.column("name").to_pylist() == ["ETHANOL"]


def test_a_missing_column_is_a_bad_file_naming_the_columns_found() -> None:
    with pytest.raises(BadFileError, match="missing column 'title' or 'article_title'") as err:
        resolve_canonical(["id", "date", "journal"], PUBMED, "f.csv")
    assert err.value.reason == "missing_column"


def test_the_graph_class_refuses_a_record_with_two_titles() -> None:
    graph = Graph()
    record = {"id": "N1", "title": "A", "scientific_title": "B", "date": "2020-01-01"}
    with pytest.raises(InputError, match="'title' and 'scientific_title' are both the title"):
        graph.add_clinical_trial({**record, "journal": "J"})
