"""PubMed XML reader: the real record in ../shared, dates, markup, streaming and errors."""

from __future__ import annotations

import gzip
import os
import tracemalloc
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from datapipeline import importing
from datapipeline.config import Source
from datapipeline.errors import InputError
from datapipeline.extract import get_reader
from datapipeline.extract.pubmed_xml import format_date, medline_date
from datapipeline.lake import Lake
from datapipeline.mentions.cleaning import clean_publications

REPO = Path(__file__).resolve().parents[2]
REAL_RECORD = REPO.parent / "shared" / "reference-data" / "pubmed-xml" / "pubmed-29768149.xml"

read = get_reader("pubmed_xml")


def _article(pmid: int, title: str = "A title", pub_date: str = "<Year>2020</Year>") -> str:
    return (
        "<PubmedArticle><MedlineCitation><PMID Version='1'>"
        f"{pmid}</PMID><Article><Journal><JournalIssue><PubDate>{pub_date}</PubDate>"
        "</JournalIssue><Title>J Test</Title></Journal>"
        f"<ArticleTitle>{title}</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
    )


def _write(path: Path, *articles: str) -> Path:
    path.write_text(
        '<?xml version="1.0"?>\n<PubmedArticleSet>\n'
        + "\n".join(articles)
        + "\n</PubmedArticleSet>\n"
    )
    return path


def _table(path: Path, **options: object) -> pa.Table:
    return pa.Table.from_batches(list(read(str(path), **options)))


@pytest.mark.shared
def test_the_real_record_becomes_one_publication(tmp_path: Path) -> None:
    if not REAL_RECORD.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{REAL_RECORD} is missing (../shared must sit beside the repository)")
        pytest.skip(f"{REAL_RECORD} not found")
    lake = Lake(tmp_path / "lake")
    source = Source(
        source_id="pubmed_xml",
        source_type="pubmed_xml",
        source=str(REAL_RECORD),
        dest_table="pubmed",
    )
    assert importing.import_source(source, lake) == 1
    raw = pl.from_arrow(lake.read_table("pubmed"))
    assert isinstance(raw, pl.DataFrame)
    kept, rejected = clean_publications(raw, "pubmed")
    assert rejected.height == 0
    row = kept.row(0, named=True)
    assert row["source_id"] == "29768149"
    assert row["title"] == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    assert row["journal"] == "The New England journal of medicine"
    assert str(row["date"]) == "2018-05-17"
    assert row["_source_file"] == str(REAL_RECORD)
    assert row["_source_row"] == 1


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        ("<Year>2018</Year><Month>05</Month><Day>17</Day>", "2018-05-17"),
        ("<Year>2018</Year><Month>May</Month><Day>7</Day>", "2018-05-07"),
        ("<Year>2018</Year><Month>Sep</Month>", "2018-09-01"),
        ("<Year>2018</Year><Month>12</Month>", "2018-12-01"),
        ("<Year>2018</Year>", "2018-01-01"),
        ("<Year>2000</Year><Season>Spring</Season>", "2000-03-01"),
        ("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>", "1998-12-01"),
        ("<MedlineDate>2000 Spring</MedlineDate>", "2000-03-01"),
        ("<MedlineDate>2001 Jul 15-21</MedlineDate>", "2001-07-15"),
        ("<MedlineDate>1998-1999</MedlineDate>", "1998-01-01"),
        ("<MedlineDate>Winter 2003</MedlineDate>", "2003-12-01"),
        ("", None),
    ],
)
def test_pub_dates_full_partial_and_medline(tmp_path: Path, pub_date: str, expected: str) -> None:
    path = _write(tmp_path / "pubmed.xml", _article(1, pub_date=pub_date))
    assert _table(path).column("date").to_pylist() == [expected]


def test_date_helpers_edge_cases() -> None:
    assert format_date("18") is None  # not a four-digit year
    assert format_date("2018", "Foo", "3") == "2018-01-01"  # unknown month: first of the year
    assert format_date("2018", "Spring", "20") == "2018-03-01"  # seasons have no day
    assert medline_date("no date at all") is None


def test_inner_markup_is_flattened_to_text(tmp_path: Path) -> None:
    title = "Effect of <i>ethanol</i> on H<sub>2</sub>O and CO<sup>2+</sup> <b>levels</b>."
    path = _write(tmp_path / "pubmed.xml", _article(1, title=title))
    assert _table(path).column("title").to_pylist() == ["Effect of ethanol on H2O and CO2+ levels."]


def test_book_articles_are_skipped_and_rows_numbered(tmp_path: Path) -> None:
    book = "<PubmedBookArticle><BookDocument><PMID>9</PMID></BookDocument></PubmedBookArticle>"
    path = _write(tmp_path / "pubmed.xml", _article(1), book, _article(2))
    table = _table(path)
    assert table.column("id").to_pylist() == ["1", "2"]
    assert table.column("_source_row").to_pylist() == [1, 2]


def test_a_gzip_file_of_many_records_streams_in_bounded_memory(tmp_path: Path) -> None:
    count, batch_size = 6000, 500
    abstract = "<Abstract><AbstractText>" + "word " * 400 + "</AbstractText></Abstract>"
    path = tmp_path / "pubmed24n0001.xml.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write('<?xml version="1.0"?>\n<PubmedArticleSet>\n')
        for pmid in range(1, count + 1):
            handle.write(
                _article(pmid, title=f"Title {pmid}").replace("</Article>", abstract + "</Article>")
            )
            handle.write("\n")
        handle.write("</PubmedArticleSet>\n")
    uncompressed = count * (len(abstract) + 300)
    tracemalloc.start()
    try:
        rows, batches, ids = 0, 0, set()
        for batch in read(str(path), batch_size=batch_size):
            batches += 1
            rows += batch.num_rows
            ids.update(batch.column("id").to_pylist())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (rows, batches, len(ids)) == (count, count // batch_size, count)
    # The file holds ~12 MB of XML; one batch of short rows plus one article is far less.
    assert uncompressed > 12_000_000
    assert peak < uncompressed / 8, f"peak {peak} bytes"


def test_malformed_xml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "pubmed.xml"
    path.write_text(
        '<?xml version="1.0"?>\n<PubmedArticleSet>\n'
        + _article(1)
        + "\n<PubmedArticle><MedlineCitation>\n<PMID>2</PMD>\n</PubmedArticleSet>\n"
    )
    with pytest.raises(InputError) as err:
        _table(path)
    assert str(err.value).startswith(f"{path}: line 5 column ")
    assert "malformed XML (mismatched tag)" in str(err.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "line 1"),
        (b"<html><body/></html>", "expected <PubmedArticleSet>"),
        (gzip.compress(b"<PubmedArticleSet><PubmedArticle>")[:-8], "not a readable gzip"),
    ],
)
def test_other_bad_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "pubmed.xml.gz"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        _table(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        _table(tmp_path / "nope.xml")
