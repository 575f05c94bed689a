"""PubMed XML reader: the ``PubmedArticleSet`` files of PubMed's baseline and updates.

One row per ``PubmedArticle``: PMID → ``id``, ArticleTitle (inner markup such as ``<i>`` or
``<sub>`` flattened to its text) → ``title``, Journal/Title → ``journal``, the journal issue's
PubDate → ``date`` as ``yyyy-mm-dd``. PubMed dates are often partial; the first day of what is
known is used:

- Year, Month, Day → that day (``Month`` as ``05``, ``5``, ``May`` or ``May.``);
- Year and Month (or Season) → the first day of that month (seasons: Spring → March,
  Summer → June, Autumn/Fall → September, Winter → December);
- Year only → January 1st;
- ``MedlineDate`` (free text such as ``1998 Dec-1999 Jan``, ``2000 Spring``,
  ``2001 Jul 15-21``) → the first year found, with the month and day that follow it if any.

Files are read with ``iterparse`` and each article is cleared once read: memory is bounded
by one article and one batch of rows, whatever the file's size. ``.xml.gz`` files are
decompressed on the fly (detected by their content, not their name). Other elements of the set
(``PubmedBookArticle``, ``DeleteCitation``) are skipped and counted in the log.
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

from datapipeline.errors import InputError
from datapipeline.extract.files import open_input
from datapipeline.extract.registry import register
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 10_000
COLUMNS = ("id", "title", "journal", "date")

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
_MEDLINE_TOKEN = re.compile(r"\d+|[A-Za-z]+")


def month_number(text: str | None) -> int | None:
    """``05``, ``5``, ``May``, ``May.``, ``Spring`` → a month number; None if unreadable."""
    if not text:
        return None
    word = text.strip().rstrip(".").lower()
    if word.isdigit():
        number = int(word)
        return number if 1 <= number <= 12 else None
    return MONTHS.get(word) or SEASONS.get(word)


def format_date(year: str | None, month: str | None = None, day: str | None = None) -> str | None:
    """``yyyy-mm-dd`` from PubMed's parts, the first day of what is known; None without year."""
    year = (year or "").strip()
    if not re.fullmatch(r"\d{4}", year):
        return None
    number = month_number(month)
    if number is None:
        return f"{year}-01-01"
    is_season = (month or "").strip().lower() in SEASONS
    day_text = (day or "").strip()
    day_number = int(day_text) if day_text.isdigit() and not is_season else 1
    if not 1 <= day_number <= 31:
        day_number = 1
    return f"{year}-{number:02d}-{day_number:02d}"


def medline_date(text: str) -> str | None:
    """The first date in a ``MedlineDate``: its first year, the first month (or season)
    after it (else before it: ``Winter 2003``), and the day right after that month.

    ``1998 Dec-1999 Jan`` → ``1998-12-01``; ``2000 Spring`` → ``2000-03-01``;
    ``2001 Jul 15-21`` → ``2001-07-15``; ``1998-1999`` → ``1998-01-01``.
    """
    tokens = _MEDLINE_TOKEN.findall(text)
    years = [i for i, t in enumerate(tokens) if len(t) == 4 and t.isdigit()]
    if not years:
        return None
    at = years[0]
    after = [i for i in range(at + 1, len(tokens)) if month_number_word(tokens[i])]
    before = [i for i in range(at) if month_number_word(tokens[i])]
    if after and not any(y < after[0] for y in years[1:]):
        month_at = after[0]
        day = tokens[month_at + 1] if month_at + 1 < len(tokens) else None
        day = day if day and day.isdigit() and len(day) <= 2 else None
        return format_date(tokens[at], tokens[month_at], day)
    if before:
        return format_date(tokens[at], tokens[before[-1]])
    return format_date(tokens[at])


def month_number_word(token: str) -> bool:
    """Whether ``token`` is a month or season name (numbers are not months in free text)."""
    return not token.isdigit() and month_number(token) is not None


def pub_date(element: ET.Element | None) -> str | None:
    """The date of a ``PubDate`` element (Year/Month/Day, Year/Season, or MedlineDate)."""
    if element is None:
        return None
    medline = element.findtext("MedlineDate")
    if medline:
        return medline_date(medline)
    month = element.findtext("Month") or element.findtext("Season")
    return format_date(element.findtext("Year"), month, element.findtext("Day"))


def flat_text(element: ET.Element | None) -> str | None:
    """All the text inside ``element``, markup such as ``<i>``/``<sub>`` removed."""
    if element is None:
        return None
    return "".join(element.itertext())


def article_row(article: ET.Element) -> tuple[str | None, str | None, str | None, str | None]:
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


def _open(source: str) -> IO[bytes]:
    handle = open_input(source)
    if handle.peek(2)[:2] == b"\x1f\x8b":  # type: ignore[attr-defined]
        return gzip.GzipFile(fileobj=handle, mode="rb")  # type: ignore[return-value]
    return handle


def _batch(
    rows: dict[str, list[str | None]], source: str, first_row: int, count: int
) -> pa.RecordBatch:
    arrays = [pa.array(rows[c], pa.string()) for c in COLUMNS]
    arrays.append(pa.repeat(pa.scalar(source, pa.string()), count))
    arrays.append(pa.array(range(first_row, first_row + count), pa.int64()))
    return pa.RecordBatch.from_arrays(arrays, names=[*COLUMNS, SOURCE_FILE, SOURCE_ROW])


@register("pubmed_xml")
def read_pubmed_xml(source: str, **options: object) -> Iterator[pa.RecordBatch]:
    """Stream a PubMed XML file (``.xml`` or ``.xml.gz``) as batches of ``batch_size`` rows.

    ``_source_row`` is the article's position in the file (1-based). Malformed XML is an
    error naming the file, line and column; a file that is not a ``PubmedArticleSet`` too.
    """
    batch_size = int(str(options.get("batch_size", DEFAULT_BATCH_SIZE)))
    rows: dict[str, list[str | None]] = {c: [] for c in COLUMNS}
    first_row, count, skipped = 1, 0, 0
    with _open(source) as handle:
        events = ET.iterparse(handle, events=("start", "end"))
        try:
            _, root = next(events)
            if root.tag != "PubmedArticleSet":
                raise InputError(
                    f"{source}: root element <{root.tag}>, expected <PubmedArticleSet>"
                )
            for event, element in events:
                if event != "end" or element.tag not in ("PubmedArticle", "PubmedBookArticle"):
                    continue
                if element.tag == "PubmedArticle":
                    for column, value in zip(COLUMNS, article_row(element), strict=True):
                        rows[column].append(value)
                    count += 1
                else:
                    skipped += 1
                root.clear()  # drop the articles read so far: memory stays bounded
                if count == batch_size:
                    yield _batch(rows, source, first_row, count)
                    first_row += count
                    rows, count = {c: [] for c in COLUMNS}, 0
        except ET.ParseError as exc:
            line, offset = exc.position
            reason = str(exc).split(":")[0]
            raise InputError(
                f"{source}: line {line} column {offset + 1}: malformed XML ({reason})"
            ) from None
        except StopIteration:
            raise InputError(f"{source}: empty file, expected a PubmedArticleSet") from None
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{source}: not a readable gzip or XML file ({exc})") from None
    if count or first_row == 1:
        yield _batch(rows, source, first_row, count)
    if skipped:
        log.info("%s: %s book articles skipped (no journal)", source, skipped)
