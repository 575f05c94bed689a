"""PubMed XML reader: the ``PubmedArticleSet`` files of PubMed's baseline and updates.

One row per record: a ``PubmedArticle`` or a ``PubmedBookArticle``.

- ``PubmedArticle``: PMID → ``id``, ArticleTitle (inner markup such as ``<i>`` or ``<sub>``
  flattened to its text) → ``title``, Journal/Title → ``journal``, the journal issue's PubDate
  (else the ArticleDate) → ``date``;
- ``PubmedBookArticle`` (a book, or a chapter of one, such as a GeneReviews chapter):
  BookDocument/PMID → ``id``; a chapter's ArticleTitle → ``title`` and its Book/BookTitle →
  ``journal`` (the book a chapter appears in, as the journal an article appears in); a whole
  book (no ArticleTitle) has its BookTitle as ``title`` and no journal; Book/PubDate → ``date``.

Dates are written ``yyyy-mm-dd``. PubMed dates are often partial; the first day of what is
known is used:

- Year, Month, Day → that day (``Month`` as ``05``, ``5``, ``May`` or ``May.``);
- Year and Month (or Season) → the first day of that month (seasons: Spring → March,
  Summer → June, Autumn/Fall → September, Winter → December); a range of months or seasons
  (``Sep-Dec``, ``Jul/Aug``, ``Winter-Spring``) means its first one;
- Year only → January 1st;
- ``MedlineDate`` (free text such as ``1998 Dec-1999 Jan``, ``2000 Spring``,
  ``2001 Jul 15-21``, ``Apr-Jun 2019``) → the first year found, with the first month (or
  season) written with it and the day that follows that month, if any.

A date that is there but impossible or unreadable (month 13 or 00, day 0 or 32, a year that is
not four digits, a month that is no month) is passed on as written, not as another date: the
cleaning stage rejects it (``invalid_date``); an absent date is left empty (``missing_date``).

Files are read with ``iterparse`` and each record is cleared once read: memory is bounded
by one record and one batch of rows, whatever the file's size. ``.xml.gz`` files are
decompressed on the fly (detected by their content, not their name). What one record and one
file may inflate to is bounded too (options ``max_record_bytes``, ``max_file_bytes``): a
decompression bomb is one error line, not gigabytes of memory. ``DeleteCitation`` elements
(PMIDs that an update deletes) are not records and are skipped, counted in the log.
"""

from __future__ import annotations

import gzip
import logging
import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from typing import IO

import pyarrow as pa

from datapipeline.errors import BadFileError, TooLargeError, UnsupportedFormatError
from datapipeline.extract.edge import guarded, positive_int_option
from datapipeline.extract.files import open_input
from datapipeline.extract.registry import register
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 10_000
#: One record (the XML between two records) may hold this many bytes: the largest of the 503
#: real records in ../shared is 188 KB; a 300 MB title from a 458 KB ``.xml.gz`` is a bomb.
DEFAULT_MAX_RECORD_BYTES = 32 * 1024 * 1024
#: One file may inflate to this many bytes of XML: about 20 times a baseline file (30,000
#: articles of 5 to 22 KB each in the real baseline extracts: up to about 700 MB).
DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024 * 1024
COLUMNS = ("id", "title", "journal", "date")
RECORDS = ("PubmedArticle", "PubmedBookArticle")

#: Roots of NCBI's neighbouring XML formats: what each is and what to fetch instead.
_EFETCH = "EFetch (db=pubmed, retmode=xml, id=<PMIDs>)"
NEIGHBOUR_FORMATS = {
    "MedlineCitationSet": (
        "MEDLINE citation XML (<MedlineCitationSet>, the format of PubMed's baseline before "
        "2017), not a PubmedArticleSet: download the current baseline or update files "
        f"(pubmed<yy>n<nnnn>.xml.gz) or fetch the records with {_EFETCH}"
    ),
    "eLinkResult": (
        "an NCBI ELink result (<eLinkResult>: links between records, no article in it), not a "
        f"PubmedArticleSet: fetch the articles it lists with {_EFETCH}"
    ),
    "eSearchResult": (
        "an NCBI ESearch result (<eSearchResult>: a list of PMIDs, no article in it), not a "
        f"PubmedArticleSet: fetch the articles it lists with {_EFETCH}"
    ),
    "eSummaryResult": (
        "an NCBI ESummary result (<eSummaryResult>: summaries, no article title and date as "
        f"PubMed gives them), not a PubmedArticleSet: fetch the articles with {_EFETCH}"
    ),
    "pmc-articleset": (
        "PubMed Central full-text XML (<pmc-articleset>), not a PubmedArticleSet: fetch the "
        f"PubMed records of these articles with {_EFETCH}"
    ),
}

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
SEASONS = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
_MEDLINE_TOKEN = re.compile(r"[0-9]+|[A-Za-z]+")
_RANGE = re.compile(r"[-/\s]+")
_DIGITS = re.compile(r"[0-9]+")


def month_number(text: str | None) -> int | None:
    """``05``, ``5``, ``May``, ``May.``, ``Spring`` → a month number; a range (``Sep-Dec``,
    ``Jul/Aug``, ``Winter-Spring``) → its first month's; None if unreadable."""
    if not text or not text.strip():
        return None
    word = _RANGE.split(text.strip())[0].rstrip(".").lower()
    if _DIGITS.fullmatch(word):
        number = int(word)
        return number if 1 <= number <= 12 else None
    return MONTHS.get(word) or SEASONS.get(word)


def _is_season(text: str) -> bool:
    return _RANGE.split(text.strip())[0].rstrip(".").lower() in SEASONS


def format_date(
    year: str | None, month: str | None = None, day: str | None = None, season: bool = False
) -> str | None:
    """``yyyy-mm-dd`` from PubMed's parts, the first day of what is known; None when no part
    is given. A part given but impossible (month 13, day 0, a year not of four digits) gives
    the parts as written, which no date rule reads: the row is rejected, never moved to
    another date. A season (``season``, or a season's name as month) has no day."""
    year, month, day = ((part or "").strip() for part in (year, month, day))
    if not (year or month or day):
        return None
    as_written = "-".join(part for part in (year, month, day) if part)
    if not re.fullmatch(r"[0-9]{4}", year):
        return as_written
    if not month:
        return f"{year}-01-01" if not day else as_written
    number = month_number(month)
    if number is None:
        return as_written
    if season or _is_season(month) or not day:
        return f"{year}-{number:02d}-01"
    if not (_DIGITS.fullmatch(day) and 1 <= int(day) <= 31):
        return as_written
    return f"{year}-{number:02d}-{int(day):02d}"  # 31 February: rejected by the cleaning rules


def medline_date(text: str) -> str | None:
    """The first date in a ``MedlineDate``: its first year, the first month (or season)
    written before it (``Apr-Jun 2019``, ``Winter 2003``), else the first one after it
    (``2019 Sep/Oct``), and the day right after that month; None without a year.

    ``1998 Dec-1999 Jan`` → ``1998-12-01``; ``Dec 1998-Jan 1999`` → ``1998-12-01``;
    ``2000 Spring`` → ``2000-03-01``; ``2001 Jul 15-21`` → ``2001-07-15``;
    ``1998-1999`` → ``1998-01-01``.
    """
    tokens = _MEDLINE_TOKEN.findall(text)
    years = [i for i, t in enumerate(tokens) if len(t) == 4 and t.isdigit()]  # ASCII tokens
    if not years:
        return None
    at = years[0]
    before = [i for i in range(at) if month_number_word(tokens[i])]
    if before:
        return format_date(tokens[at], tokens[before[0]])
    after = [i for i in range(at + 1, len(tokens)) if month_number_word(tokens[i])]
    if after and not any(y < after[0] for y in years[1:]):
        month_at = after[0]
        day = tokens[month_at + 1] if month_at + 1 < len(tokens) else None
        day = day if day and day.isdigit() and len(day) <= 2 else None
        return format_date(tokens[at], tokens[month_at], day)
    return format_date(tokens[at])


def month_number_word(token: str) -> bool:
    """Whether ``token`` is a month or season name (numbers are not months in free text)."""
    return not token.isdigit() and month_number(token) is not None


def pub_date(element: ET.Element | None) -> str | None:
    """The date of a ``PubDate`` element (Year/Month/Day, Year/Season, or MedlineDate); None
    when it holds none. A ``MedlineDate`` without a year is passed on as written."""
    if element is None:
        return None
    medline = element.findtext("MedlineDate")
    if medline and medline.strip():
        return medline_date(medline) or medline.strip()
    season = element.findtext("Season")
    month = element.findtext("Month")
    return format_date(
        element.findtext("Year"),
        month if month and month.strip() else season,
        element.findtext("Day"),
        season=not (month and month.strip()) and bool(season and season.strip()),
    )


def flat_text(element: ET.Element | None) -> str | None:
    """All the text inside ``element``, markup such as ``<i>``/``<sub>`` removed."""
    if element is None:
        return None
    return "".join(element.itertext())


Row = tuple[str | None, str | None, str | None, str | None]


def article_row(article: ET.Element) -> Row:
    """(id, title, journal, date) of one ``PubmedArticle``."""
    citation = article.find("MedlineCitation")
    if citation is None:
        return None, None, None, None
    pmid = citation.findtext("PMID")
    art = citation.find("Article")
    if art is None:
        return pmid, None, None, None
    journal = art.find("Journal")
    journal_title = journal.findtext("Title") if journal is not None else None
    date = pub_date(journal.find("JournalIssue/PubDate")) if journal is not None else None
    if date is None:
        date = pub_date(art.find("ArticleDate"))
    return pmid, flat_text(art.find("ArticleTitle")), journal_title, date


def book_row(record: ET.Element) -> Row:
    """(id, title, journal, date) of one ``PubmedBookArticle``: a chapter is titled by its
    ArticleTitle and appears in its BookTitle; a whole book is titled by its BookTitle."""
    document = record.find("BookDocument")
    if document is None:
        return None, None, None, None
    book = document.find("Book")
    book_title = flat_text(book.find("BookTitle")) if book is not None else None
    chapter = document.find("ArticleTitle")
    date = pub_date(book.find("PubDate")) if book is not None else None
    if chapter is None:
        return document.findtext("PMID"), book_title, None, date
    return document.findtext("PMID"), flat_text(chapter), book_title, date


class _BoundedXml:
    """The XML bytes of a file as the parser reads them, counted: past ``max_file`` bytes in
    all, or ``max_record`` bytes since the last record ended, reading stops with one error."""

    def __init__(self, handle: IO[bytes], source: str, max_file: int, max_record: int) -> None:
        self.handle = handle
        self.source = source
        self.max_file = max_file
        self.max_record = max_record
        self.position = 0
        self.record_start = 0
        self.records = 0

    def record_ended(self) -> None:
        """Mark the end of a record (what was read so far belongs to records done)."""
        self.records += 1
        self.record_start = self.position

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.position += len(data)
        if self.position > self.max_file:
            raise TooLargeError(
                self.source,
                f"inflated byte {self.max_file:,}: the file holds more than {self.max_file:,} "
                "bytes of XML (reader option max_file_bytes)",
            )
        if self.position - self.record_start > self.max_record:
            raise TooLargeError(
                self.source,
                f"record {self.records + 1}: more than {self.max_record:,} bytes of XML in one "
                f"record, from inflated byte {self.record_start:,} (reader option "
                "max_record_bytes)",
            )
        return data


def _open(source: str) -> IO[bytes]:
    handle = open_input(source)
    try:
        gzipped = handle.peek(2)[:2] == b"\x1f\x8b"  # type: ignore[attr-defined]
    except OSError as exc:
        handle.close()
        raise BadFileError(source, f"cannot be read ({exc.strerror or exc})") from None
    if gzipped:
        return gzip.GzipFile(fileobj=handle, mode="rb")  # type: ignore[return-value]
    return handle


def _batch(
    rows: dict[str, list[str | None]], source: str, first_row: int, count: int
) -> pa.RecordBatch:
    arrays = [pa.array(rows[c], pa.string()) for c in COLUMNS]
    arrays.append(pa.repeat(pa.scalar(source, pa.string()), count))
    arrays.append(pa.array(range(first_row, first_row + count), pa.int64()))
    return pa.RecordBatch.from_arrays(arrays, names=[*COLUMNS, SOURCE_FILE, SOURCE_ROW])


def _refuse_root(tag: str, source: str) -> None:
    if tag != "PubmedArticleSet":
        what = NEIGHBOUR_FORMATS.get(tag, f"root element <{tag}>, expected <PubmedArticleSet>")
        raise UnsupportedFormatError(source, what)


@register("pubmed_xml")
@guarded
def read_pubmed_xml(source: str, **options: object) -> Iterator[pa.RecordBatch]:
    """Stream a PubMed XML file (``.xml`` or ``.xml.gz``) as batches of ``batch_size`` rows.

    ``_source_row`` is the record's position in the file (1-based). Malformed XML is an
    error naming the file, line and column; a file that is not a ``PubmedArticleSet`` says
    what it is; a record or a file past its bound (``max_record_bytes``, ``max_file_bytes``)
    is refused.
    """
    batch_size = positive_int_option(options, "batch_size", DEFAULT_BATCH_SIZE)
    max_record = positive_int_option(options, "max_record_bytes", DEFAULT_MAX_RECORD_BYTES)
    max_file = positive_int_option(options, "max_file_bytes", DEFAULT_MAX_FILE_BYTES)
    rows: dict[str, list[str | None]] = {c: [] for c in COLUMNS}
    first_row, count, deletions, depth = 1, 0, 0, 0
    with _open(source) as handle:
        xml = _BoundedXml(handle, source, max_file, max_record)
        events = ET.iterparse(xml, events=("start", "end"))
        try:
            _, root = _first_event(events, source)
            _refuse_root(root.tag, source)
            for event, element in events:
                if event == "start":
                    depth += 1
                    continue
                depth -= 1
                if depth:
                    continue  # an element inside a record, or the end of the set
                if element.tag in RECORDS:
                    row = article_row(element) if element.tag == RECORDS[0] else book_row(element)
                    for column, value in zip(COLUMNS, row, strict=True):
                        rows[column].append(value)
                    count += 1
                elif element.tag == "DeleteCitation":
                    deletions += 1
                else:
                    raise BadFileError(
                        source,
                        f"record {xml.records + 1}: <{element.tag}> in the set, expected "
                        "<PubmedArticle>, <PubmedBookArticle> or <DeleteCitation>",
                    )
                xml.record_ended()
                root.clear()  # drop the records read so far: memory stays bounded
                if count == batch_size:
                    yield _batch(rows, source, first_row, count)
                    first_row += count
                    rows, count = {c: [] for c in COLUMNS}, 0
        except ET.ParseError as exc:
            line, offset = exc.position
            reason = str(exc).split(":")[0]
            raise BadFileError(
                source, f"line {line} column {offset + 1}: malformed XML ({reason})"
            ) from None
        except (OSError, EOFError, zlib.error) as exc:
            raise BadFileError(source, f"not a readable gzip or XML file ({exc})") from None
    if count or first_row == 1:
        yield _batch(rows, source, first_row, count)
    if deletions:
        log.info("%s: %s DeleteCitation elements skipped (not records)", source, deletions)


def _first_event(events: Iterator[tuple[str, ET.Element]], source: str) -> tuple[str, ET.Element]:
    """The root's start event; the XML declaration is read here, and with it its encoding."""
    try:
        return next(events)
    except StopIteration:
        raise BadFileError(source, "empty file, expected a PubmedArticleSet") from None
    except (LookupError, ValueError) as exc:  # an unknown or multi-byte declared encoding
        raise BadFileError(
            source, f"line 1: the XML declaration names an encoding that cannot be read ({exc})"
        ) from None
