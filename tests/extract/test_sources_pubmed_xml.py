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
from datapipeline.errors import (
    BadFileError,
    ConfigError,
    InputError,
    TooLargeError,
    UnsupportedFormatError,
)
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
    assert format_date(None) is None  # nothing given: no date (missing)
    assert format_date("2018", "Spring", "20") == "2018-03-01"  # seasons have no day
    assert format_date("2018", "Sep-Dec") == "2018-09-01"
    assert medline_date("no date at all") is None


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        # a range of months or seasons means its first month (PubMed's Season element)
        ("<Year>2023</Year><Season>Jul-Oct</Season>", "2023-07-01"),
        ("<Year>2019</Year><Season>Sep-Dec</Season>", "2019-09-01"),
        ("<Year>2020</Year><Season>Apr-Jun</Season>", "2020-04-01"),
        ("<Year>2001</Year><Season>May-Jun</Season>", "2001-05-01"),
        ("<Year>2013</Year><Season>Jan-Mar</Season>", "2013-01-01"),
        ("<Year>2020</Year><Season>Jul/Aug</Season>", "2020-07-01"),
        ("<Year>2024</Year><Season>Summer-Fall</Season>", "2024-06-01"),
        ("<Year>2024</Year><Season>Winter-Spring</Season>", "2024-12-01"),  # Winter: December
        ("<Year>2020</Year><Month>Nov-Dec</Month>", "2020-11-01"),
        # and in MedlineDate, whether the months come after or before the year
        ("<MedlineDate>2019 Apr-Jun</MedlineDate>", "2019-04-01"),
        ("<MedlineDate>2019 Sep/Oct</MedlineDate>", "2019-09-01"),
        ("<MedlineDate>Apr-Jun 2019</MedlineDate>", "2019-04-01"),
        ("<MedlineDate>Dec 1998-Jan 1999</MedlineDate>", "1998-12-01"),
        ("<MedlineDate>2000 Spring-Summer</MedlineDate>", "2000-03-01"),
    ],
)
def test_a_range_of_months_or_seasons_means_its_first_month(
    tmp_path: Path, pub_date: str, expected: str
) -> None:
    path = _write(tmp_path / "pubmed.xml", _article(1, pub_date=pub_date))
    assert _table(path).column("date").to_pylist() == [expected]


def _cleaned(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    table = _table(path).rename_columns(["source_id", "title", "journal", "date", *_PROVENANCE])
    raw = pl.from_arrow(table)
    assert isinstance(raw, pl.DataFrame)
    return clean_publications(raw, "pubmed")


_PROVENANCE = ["_source_file", "_source_row"]


@pytest.mark.parametrize(
    "pub_date",
    [
        "<Year>2020</Year><Month>13</Month>",
        "<Year>2020</Year><Month>00</Month>",
        "<Year>2020</Year><Month>0</Month><Day>5</Day>",
        "<Year>2020</Year><Month>May</Month><Day>0</Day>",
        "<Year>2020</Year><Month>05</Month><Day>00</Day>",
        "<Year>2020</Year><Month>05</Month><Day>32</Day>",
        "<Year>2020</Year><Month>02</Month><Day>30</Day>",
        "<Year>2020</Year><Month>Foo</Month>",  # present but not a month
        "<Year>0000</Year>",
        "<Year>0000</Year><Month>Jan</Month><Day>1</Day>",
        "<Year>18</Year>",  # not a four-digit year
        "<Year>2020</Year><Month>5</Month><Day>²</Day>",  # a digit, not a decimal one
        "<Year>٢٠٢٠</Year>",  # digits, not ASCII ones
        "<MedlineDate>0000 Jan</MedlineDate>",
        "<MedlineDate>2001 Jul 0-21</MedlineDate>",
        "<MedlineDate>no date at all</MedlineDate>",
    ],
)
def test_impossible_dates_are_rejected_never_published_as_another(
    tmp_path: Path, pub_date: str
) -> None:
    path = _write(tmp_path / "pubmed.xml", _article(1, pub_date=pub_date))
    kept, rejected = _cleaned(path)
    assert kept.height == 0
    assert rejected["_reason"].to_list() == ["invalid_date"]


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        ("<Year>2020</Year>", "2020-01-01"),  # partial: the first day of what is known
        ("<Year>2020</Year><Month>Feb</Month>", "2020-02-01"),
        ("<Year>2020</Year><Month>02</Month><Day>29</Day>", "2020-02-29"),
        ("<Year>2020</Year><Season>Fall</Season><Day>0</Day>", "2020-09-01"),  # no day
    ],
)
def test_partial_dates_keep_the_first_day_of_what_is_known(
    tmp_path: Path, pub_date: str, expected: str
) -> None:
    path = _write(tmp_path / "pubmed.xml", _article(1, pub_date=pub_date))
    kept, rejected = _cleaned(path)
    assert rejected.height == 0
    assert [str(d) for d in kept["date"].to_list()] == [expected]


def test_an_article_with_no_date_at_all_is_missing_its_date(tmp_path: Path) -> None:
    path = _write(tmp_path / "pubmed.xml", _article(1, pub_date=""))
    _, rejected = _cleaned(path)
    assert rejected["_reason"].to_list() == ["missing_date"]


def test_inner_markup_is_flattened_to_text(tmp_path: Path) -> None:
    title = "Effect of <i>ethanol</i> on H<sub>2</sub>O and CO<sup>2+</sup> <b>levels</b>."
    path = _write(tmp_path / "pubmed.xml", _article(1, title=title))
    assert _table(path).column("title").to_pylist() == ["Effect of ethanol on H2O and CO2+ levels."]


def _book(pmid: int, chapter: str | None, book: str | None, pub_date: str | None) -> str:
    parts = [f"<PubmedBookArticle><BookDocument><PMID Version='1'>{pmid}</PMID><Book>"]
    parts.append("<Publisher><PublisherName>Univ Press</PublisherName></Publisher>")
    if book is not None:
        parts.append(f"<BookTitle book='b'>{book}</BookTitle>")
    if pub_date is not None:
        parts.append(f"<PubDate>{pub_date}</PubDate>")
    parts.append("</Book>")
    if chapter is not None:
        parts.append(f"<ArticleTitle book='b' part='p'>{chapter}</ArticleTitle>")
    parts.append("<ContributionDate><Year>2006</Year><Month>2</Month><Day>15</Day>")
    parts.append("</ContributionDate></BookDocument></PubmedBookArticle>")
    return "".join(parts)


def test_book_articles_are_read_as_publications_and_rows_numbered(tmp_path: Path) -> None:
    chapter = _book(
        9, "<i>CACNA1C</i>-Related Disorders", "GeneReviews<sup>®</sup>", "<Year>1993</Year>"
    )
    whole_book = _book(10, None, "Ethanol: a Handbook", "<Year>2001</Year><Month>Mar</Month>")
    path = _write(tmp_path / "pubmed.xml", _article(1), chapter, whole_book, _article(2))
    rows = _table(path).to_pylist()
    assert [(r["id"], r["title"], r["journal"], r["date"], r["_source_row"]) for r in rows] == [
        ("1", "A title", "J Test", "2020-01-01", 1),
        # a chapter: its title, in the book as its journal, on the book's date
        ("9", "CACNA1C-Related Disorders", "GeneReviews®", "1993-01-01", 2),
        # a whole book: its own title, no journal
        ("10", "Ethanol: a Handbook", None, "2001-03-01", 3),
        ("2", "A title", "J Test", "2020-01-01", 4),
    ]


def test_book_articles_without_a_title_or_date_are_rejected_with_their_reason(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path / "pubmed.xml",
        _book(1, "", "Book", "<Year>2001</Year>"),  # an empty chapter title
        _book(2, None, None, "<Year>2001</Year>"),  # neither chapter nor book title
        _book(3, "Chapter", "Book", None),  # no PubDate (the contribution date is not used)
        _book(4, "Chapter", "Book", "<Year>2001</Year><Month>13</Month>"),
        _book(5, "Chapter", "Book", "<Year>2001</Year>"),
    )
    kept, rejected = _cleaned(path)
    assert kept["source_id"].to_list() == ["5"]
    assert dict(zip(rejected["source_id"], rejected["_reason"], strict=True)) == {
        "1": "missing_title",
        "2": "missing_title",
        "3": "missing_date",
        "4": "invalid_date",
    }


def test_an_element_that_is_no_record_in_the_set_is_an_error_not_a_skip(tmp_path: Path) -> None:
    path = _write(tmp_path / "pubmed.xml", _article(1), "<PubmedArticleSet/>", _article(2))
    with pytest.raises(BadFileError, match=r"record 2: <PubmedArticleSet> in the set, expected"):
        _table(path)


def test_delete_citations_are_not_records(tmp_path: Path) -> None:
    deleted = (
        "<DeleteCitation><PMID Version='1'>5</PMID><PMID Version='1'>6</PMID></DeleteCitation>"
    )
    path = _write(tmp_path / "pubmed.xml", _article(1), deleted, _article(2))
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
        (b"\x1f\x8b" + b"not gzip at all", "not a readable gzip"),
        (gzip.compress(b"<PubmedArticleSet>\xff\xfe</PubmedArticleSet>"), "malformed XML"),
        (b'<?xml version="1.0" encoding="no-such"?><PubmedArticleSet/>', "line 1"),
        (b'<?xml version="1.0" encoding="utf-32"?><PubmedArticleSet/>', "line 1"),
        (b"<PubmedArticleSet>" + b"<a>" * 100_000, "line 1"),
    ],
)
def test_other_bad_files_are_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "pubmed.xml.gz"
    path.write_bytes(content)
    with pytest.raises(BadFileError, match=message) as err:
        _table(path)
    assert err.value.file == str(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("root", "says"),
    [
        (
            "MedlineCitationSet",
            "MEDLINE citation XML (<MedlineCitationSet>, the format of PubMed's baseline "
            "before 2017), not a PubmedArticleSet: ",
        ),
        ("eLinkResult", "an NCBI ELink result (<eLinkResult>: links between records, no article"),
        ("eSearchResult", "an NCBI ESearch result (<eSearchResult>: a list of PMIDs, no article"),
        (
            "pmc-articleset",
            "PubMed Central full-text XML (<pmc-articleset>), not a PubmedArticleSet",
        ),
        ("html", "root element <html>, expected <PubmedArticleSet>"),
    ],
)
def test_neighbouring_formats_say_what_they_are_and_what_to_fetch(
    tmp_path: Path, root: str, says: str
) -> None:
    path = tmp_path / "pubmed.xml"
    path.write_text(f'<?xml version="1.0"?>\n<{root}><x/></{root}>\n')
    with pytest.raises(UnsupportedFormatError) as err:
        _table(path)
    assert str(err.value).startswith(f"{path}: {says}")
    assert err.value.file == str(path)
    assert err.value.reason == "unsupported_format"
    assert "\n" not in str(err.value)
    if root != "html":
        assert "EFetch (db=pubmed, retmode=xml" in str(err.value)


def test_a_gzip_bomb_title_is_refused_at_the_record_bound(tmp_path: Path) -> None:
    # 40 MB of one title inflate from about 40 KB: past the default bound of one record
    path = tmp_path / "pubmed.xml.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write('<?xml version="1.0"?>\n<PubmedArticleSet>\n' + _article(1) + "\n")
        handle.write(_article(2).replace("A title", "ethanol " * 5_000_000))
        handle.write("\n</PubmedArticleSet>\n")
    assert path.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(TooLargeError) as err:
            _table(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert message.startswith(f"{path}: record 2: more than 33,554,432 bytes of XML in one record")
    assert "max_record_bytes" in message
    assert err.value.reason == "too_large"
    assert peak < 200_000_000, f"peak {peak} bytes"


def test_the_bounds_of_a_record_and_a_file_are_reader_options(tmp_path: Path) -> None:
    path = _write(tmp_path / "pubmed.xml", *(_article(i, title="t" * 500) for i in range(1, 40)))
    size = path.stat().st_size
    assert _table(path, max_record_bytes=20_000, max_file_bytes=size).num_rows == 39
    with pytest.raises(TooLargeError, match=r"record 1: more than 100 bytes of XML in one"):
        _table(path, max_record_bytes=100)
    with pytest.raises(TooLargeError, match=r"inflated byte 10,000: the file holds more than "):
        _table(path, max_file_bytes=10_000)
    with pytest.raises(ConfigError, match=r"max_file_bytes: expected a positive whole number"):
        _table(path, max_file_bytes="lots")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        _table(tmp_path / "nope.xml")
