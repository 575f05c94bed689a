"""Fuzzing: property tests over the readers and the cleaning functions.

Whatever the bytes or the text, a reader returns string-typed rows with provenance or raises a
:class:`DataPipelineError` (one clear line); a cleaning function never raises; the row
accounting of :func:`build_mentions` always balances.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import tempfile
from pathlib import Path
from xml.sax.saxutils import escape

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datapipeline.engines.local import build_mentions
from datapipeline.errors import BadFileError, DataPipelineError, TooLargeError
from datapipeline.extract.canonical import to_canonical
from datapipeline.extract.ctgov import read_ctgov_json
from datapipeline.extract.encoding import decode_to_utf8
from datapipeline.extract.files import parse_json_records, read_csv, read_json
from datapipeline.extract.pubmed_xml import read_pubmed_xml
from datapipeline.mentions.cleaning import clean_text_columns, decode_escaped_bytes, parse_date
from datapipeline.mentions.matching import normalize_for_matching
from datapipeline.schema import KINDS, SOURCE_FILE, SOURCE_ROW

#: Examples per property: 150 in the suite; FUZZ_EXAMPLES=2000 for a deeper run.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

#: Characters that matter to CSV and JSON parsers, plus text that matters to cleaning.
SYNTAX = ",;\"'\n\r\t\x00\\{}[]: 0123456789-/éÉ€ \u00a0\u2028\ufeff\ud7ffabcxyz"
csv_like = st.text(alphabet=SYNTAX, max_size=200).map(lambda t: "id,title,date,journal\n" + t)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def read(reader: object, data: bytes) -> pa.Table | None:
    """Run ``reader`` on ``data`` in a file; None when it raised a DataPipelineError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input"
        path.write_bytes(data)
        try:
            batches = list(reader(str(path)))  # type: ignore[operator]
        except DataPipelineError as exc:
            message = str(exc)
            assert message.startswith(str(path)), message  # names the file
            assert "\n" not in message  # one line
            return None
    table = pa.Table.from_batches(batches) if batches else None
    if table is not None:
        for name, column in zip(table.column_names, table.columns, strict=True):
            if name == SOURCE_ROW:
                assert column.type == pa.int64()
            else:
                assert column.type in (pa.string(), pa.large_string(), pa.string_view())
        assert table.column(SOURCE_ROW).to_pylist() == list(range(1, table.num_rows + 1))
    return table


@FUZZ
@given(st.binary(max_size=300))
def test_csv_reader_on_any_bytes(data: bytes) -> None:
    read(read_csv, data)


@FUZZ
@given(csv_like, st.sampled_from(["utf-8", "utf-16", "cp1252", "latin-1"]))
def test_csv_reader_on_csv_like_text(text: str, encoding: str) -> None:
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8", errors="surrogatepass")
    read(read_csv, data)


@FUZZ
@given(st.binary(max_size=300))
def test_json_reader_on_any_bytes(data: bytes) -> None:
    read(read_json, data)


@FUZZ
@given(st.text(alphabet=SYNTAX + "trufalsn", max_size=200))
def test_json_reader_on_json_like_text(text: str) -> None:
    read(read_json, text.encode("utf-8", errors="surrogatepass"))


@FUZZ
@given(st.lists(json_values, max_size=5), st.booleans())
def test_json_reader_on_any_json_document(values: list[object], lines: bool) -> None:
    text = "\n".join(json.dumps(v) for v in values) if lines else json.dumps(values)
    table = read(read_json, text.encode())
    if table is not None and not lines:
        assert table.num_rows == len(values)


@FUZZ
@given(st.text(max_size=200))
def test_parse_json_records_raises_only_input_errors(text: str) -> None:
    try:
        records = parse_json_records(text, "f.json")
    except DataPipelineError:
        return
    assert all(isinstance(r, dict) for r in records)


@FUZZ
@given(st.binary(max_size=300))
def test_decoding_any_bytes_gives_utf8_or_a_clear_error(data: bytes) -> None:
    try:
        decoded = decode_to_utf8(data, "f")
    except DataPipelineError as exc:
        message = str(exc)
        assert message.startswith("f: byte "), message
        return
    text = decoded.data.decode("utf-8")  # always valid UTF-8 afterwards
    assert not text.startswith("\ufeff")


escaped = st.lists(
    st.text(max_size=5)
    | st.binary(min_size=1, max_size=4).map(lambda b: "".join(f"\\x{c:02x}" for c in b)),
    max_size=6,
).map("".join)


@FUZZ
@given(escaped)
def test_decode_escaped_bytes_never_raises(text: str) -> None:
    result = decode_escaped_bytes(text)
    assert isinstance(result, str)
    assert decode_escaped_bytes(result) == decode_escaped_bytes(decode_escaped_bytes(result))


dates = st.text(
    alphabet="0123456789/-. ,JanuryFebMchAplMyJunJulAugSeptOctNovDec\t", max_size=25
) | st.text(max_size=25)


@FUZZ
@given(st.lists(st.none() | dates, max_size=30))
def test_parse_date_never_raises(values: list[str | None]) -> None:
    frame = pl.DataFrame({"d": pl.Series(values, dtype=pl.String)})
    parsed = frame.select(parse_date(pl.col("d"))).to_series()
    assert parsed.dtype == pl.Date
    assert parsed.len() == len(values)
    for value, date in zip(values, parsed.to_list(), strict=True):
        if value is None:
            assert date is None


@FUZZ
@given(st.lists(st.none() | st.text(max_size=40) | escaped, max_size=30))
def test_clean_text_columns_never_raises(values: list[str | None]) -> None:
    frame = pl.DataFrame({"t": pl.Series(values, dtype=pl.String)})
    cleaned = clean_text_columns(frame, ["t"]).get_column("t").to_list()
    assert len(cleaned) == len(values)
    for value in cleaned:
        assert value is None or (value == value.strip() and value != "" and "  " not in value)
        assert value is None or "\x00" not in value


@FUZZ
@given(st.lists(st.none() | st.text(max_size=40), max_size=30))
def test_normalize_never_raises(values: list[str | None]) -> None:
    frame = pl.DataFrame({"t": pl.Series(values, dtype=pl.String)})
    normal = frame.select(normalize_for_matching(pl.col("t"))).to_series().to_list()
    for value in normal:
        assert value is None or value == value.strip(" ")


rows = st.lists(
    st.tuples(
        st.none() | st.text(max_size=6),
        st.none() | st.text(max_size=30) | st.sampled_from(["ethanol", "Atropine study"]),
        st.none() | dates | st.sampled_from(["01/02/2020", "2020-02-31", "1 May 2020"]),
        st.none() | st.text(max_size=8),
    ),
    max_size=25,
)


def _frame(records: list[tuple[str | None, ...]], columns: list[str]) -> pl.DataFrame:
    data = {c: [r[i] for r in records] for i, c in enumerate(columns)}
    frame = pl.DataFrame(data, schema=dict.fromkeys(columns, pl.String))
    return frame.with_columns(
        pl.lit("f.csv").alias(SOURCE_FILE),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(SOURCE_ROW),
    )


@FUZZ
@given(
    st.lists(
        st.tuples(st.none() | st.text(max_size=5), st.none() | st.text(max_size=15)), max_size=8
    ),
    rows,
    rows,
)
def test_build_mentions_accounts_for_every_row(
    drugs: list[tuple[str | None, ...]],
    pubmed: list[tuple[str | None, ...]],
    trials: list[tuple[str | None, ...]],
) -> None:
    columns = ["source_id", "title", "date", "journal"]
    result = build_mentions(
        _frame([*drugs, ("A", "ETHANOL")], ["atccode", "name"]),
        {"pubmed": _frame(pubmed, columns), "clinical_trials": _frame(trials, columns)},
    )
    for name, account in result.accounts.items():
        assert account.balanced, (name, account)
    assert result.rejected.height == sum(a.rejected for a in result.accounts.values())


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_deep_nesting_is_an_input_error_at_any_depth(depth: int) -> None:
    text = "[" * depth + "]" * depth
    with pytest.raises(
        DataPipelineError, match=r"f\.json: line 1 column 2: JSON nested too deeply"
    ):
        parse_json_records(text, "f.json")


# --- line endings, headers, nested values and sizes: no escape, no silent drop --------------

#: Field text without the characters that would need quoting.
plain_field = st.text(alphabet="abcxyz éÉ€0123456789-/.\t", max_size=8)
line_end = st.sampled_from(["\n", "\r\n", "\r"])


@FUZZ
@given(
    st.lists(st.tuples(plain_field.filter(lambda f: f.strip() != ""), plain_field), max_size=12),
    st.lists(line_end, min_size=13, max_size=13),
)
def test_csv_rows_are_all_read_whatever_the_line_endings(
    rows: list[tuple[str, str]], ends: list[str]
) -> None:
    """Every record Python's csv module reads, the reader reads, with the same values."""
    lines = ["id,title", *(f"{a},{b}" for a, b in rows)]
    text = "".join(line + end for line, end in zip(lines, ends, strict=False))
    expected = list(csv.reader(io.StringIO(text, newline="")))[1:]
    got = [(r["id"], r["title"] or "") for r in read_rows(read_csv, text.encode())]
    assert got == [(a, b) for a, b in expected]


def read_rows(reader: object, data: bytes, **options: object) -> list[dict[str, object]]:
    """The rows ``reader`` reads from ``data`` in a file (it must not raise)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "input"
        path.write_bytes(data)
        batches = list(reader(str(path), **options))  # type: ignore[operator]
    return [row for batch in batches for row in batch.to_pylist()]


header_names = st.sampled_from(
    [
        "id",
        "ID",
        " id",
        "pmid",
        "title",
        "Title",
        "article_title",
        "scientific_title",
        "date",
        "publication_date",
        "journal",
        "journal_title",
        "notes",
        "",
        "drug",
        "name",
    ]
)


@FUZZ
@given(st.lists(header_names, min_size=1, max_size=7), st.sampled_from(sorted(KINDS)))
def test_a_header_is_resolved_whole_or_refused_never_a_column_dropped(
    names: list[str], kind_name: str
) -> None:
    """Each canonical column comes from the one input column that spells it; two spellings of
    one column, or a required one missing, are one error naming the file."""
    kind = KINDS[kind_name]
    header = ",".join(f'"{n}"' for n in names)
    values = ",".join(f"v{i}" for i in range(len(names)))
    table = read(read_csv, f"{header}\n{values}\n".encode())
    assert table is not None
    spells = {
        canonical: [i for i, n in enumerate(names) if n.strip().lower() in aliases]
        for canonical, aliases in ((c, {a.lower() for a in al}) for c, al in kind.columns.items())
    }
    clash = any(len(found) > 1 for found in spells.values())
    missing = any(not spells[c] for c in kind.required)
    if clash or missing:
        with pytest.raises(BadFileError, match=r"^f\.csv: [^\n]*$"):
            to_canonical(table, kind, "f.csv")
        return
    canonical = to_canonical(table, kind, "f.csv")
    for column, found in spells.items():
        expected = [f"v{found[0]}"] if found else [None]
        assert canonical.column(column).to_pylist() == expected


def _pubmed_article(pmid: int, year: str, month: str | None, day: str | None) -> str:
    parts = f"<Year>{escape(year)}</Year>"
    parts += f"<Month>{escape(month)}</Month>" if month is not None else ""
    parts += f"<Day>{escape(day)}</Day>" if day is not None else ""
    return (
        f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article><Journal><JournalIssue>"
        f"<PubDate>{parts}</PubDate></JournalIssue><Title>J</Title></Journal>"
        "<ArticleTitle>T</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
    )


date_part = st.text(alphabet="0123456789-/ JanFebSepDcOtWinterSpg.\u00b2\u0662", max_size=6)


@FUZZ
@given(st.lists(st.tuples(date_part, st.none() | date_part, st.none() | date_part), max_size=6))
def test_pubmed_dates_are_the_ones_written_or_rejected(
    dates: list[tuple[str, str | None, str | None]],
) -> None:
    """Every article is a row; a date kept is the year, month and day written (the first day
    of what is missing), never another date."""
    articles = [_pubmed_article(i, *d) for i, d in enumerate(dates, start=1)]
    xml = "<PubmedArticleSet>" + "".join(articles) + "</PubmedArticleSet>"
    table = read(read_pubmed_xml, xml.encode())
    assert table is not None
    assert table.num_rows == len(dates)
    parsed = pl.DataFrame({"d": table.column("date").to_pylist()}, schema={"d": pl.String})
    kept = parsed.select(parse_date(pl.col("d"))).to_series().to_list()
    for (year, month, day), date in zip(dates, kept, strict=True):
        if date is None:
            continue
        assert date.year == int(year.strip())
        month_text = (month or "").strip()
        if month_text.isdigit():
            assert date.month == int(month_text)
            if (day or "").strip() and (day or "").strip().isascii():
                assert date.day == int((day or "").strip())
        elif not month_text:
            assert (date.month, date.day) == (1, 1)


@FUZZ
@given(
    st.binary(max_size=300)
    | st.text(alphabet="<>/PubmedArticleSet =\"'?x&;#\n", max_size=120).map(str.encode)
)
def test_pubmed_xml_reader_on_any_bytes(data: bytes) -> None:
    read(read_pubmed_xml, data)
    read(read_pubmed_xml, gzip.compress(data))


@FUZZ
@given(st.lists(json_values, max_size=4), st.booleans())
def test_ctgov_reader_on_any_json_document(values: list[object], page: bool) -> None:
    """Studies of any shape: one row per study, or one error naming the file."""
    studies = [{"protocolSection": v} if i % 2 else v for i, v in enumerate(values)]
    document = {"studies": studies} if page else studies
    table = read(read_ctgov_json, json.dumps(document).encode())
    if table is not None:
        assert table.num_rows == len(studies)


ctgov_modules = st.fixed_dictionaries(
    {},
    optional={
        "identificationModule": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "nctId": json_values,
                "officialTitle": json_values,
                "briefTitle": json_values,
            },
        ),
        "statusModule": json_values
        | st.fixed_dictionaries(
            {},
            optional={
                "startDateStruct": json_values | st.fixed_dictionaries({"date": json_values}),
                "studyFirstSubmitDate": json_values,
            },
        ),
    },
)


@FUZZ
@given(st.lists(ctgov_modules, min_size=1, max_size=4))
def test_ctgov_reader_on_modules_of_any_type(protocols: list[dict[str, object]]) -> None:
    """Modules and fields of any JSON type: each study a row with string values, or one
    error naming the file; never an AttributeError."""
    document = {"studies": [{"protocolSection": p} for p in protocols]}
    table = read(read_ctgov_json, json.dumps(document).encode())
    if table is not None:
        assert table.num_rows == len(protocols)


@pytest.mark.parametrize("depth", [1_000, 200_000])
def test_deeply_nested_xml_and_json_are_one_error_or_read(depth: int) -> None:
    title = "<i>" * depth + "ethanol" + "</i>" * depth
    xml = f"<PubmedArticleSet>{_pubmed_article(1, '2020', None, None)}</PubmedArticleSet>"
    table = read(read_pubmed_xml, xml.replace("<ArticleTitle>T", f"<ArticleTitle>{title}").encode())
    assert table is None or table.column("title").to_pylist() == ["ethanol"]
    nested = '{"protocolSection": {"identificationModule": ' + "[" * depth + "]" * depth + "}}"
    assert read(read_ctgov_json, nested.encode()) is None


@pytest.mark.parametrize(
    ("records", "size", "limit", "refused"),
    [
        (30, 1_000, 100_000, False),  # many records far below the bound
        (3, 60_000, 100_000, False),  # records near the bound (the parser reads ahead 16 KiB)
        (3, 200_000, 100_000, True),  # one record past it
    ],
)
def test_the_record_bound_refuses_only_records_past_it(
    records: int, size: int, limit: int, refused: bool
) -> None:
    articles = [
        _pubmed_article(i, "2020", None, None).replace(
            "<ArticleTitle>T", "<ArticleTitle>" + "t" * size
        )
        for i in range(records)
    ]
    data = gzip.compress(
        ("<PubmedArticleSet>" + "".join(articles) + "</PubmedArticleSet>").encode()
    )
    if refused:
        with pytest.raises(TooLargeError, match="max_record_bytes"):
            read_rows(read_pubmed_xml, data, max_record_bytes=limit)
    else:
        assert len(read_rows(read_pubmed_xml, data, max_record_bytes=limit)) == records
