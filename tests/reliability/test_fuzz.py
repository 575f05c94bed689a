"""Fuzzing: property tests over the readers and the cleaning functions.

Whatever the bytes or the text, a reader returns string-typed rows with provenance or raises a
:class:`DataPipelineError` (one clear line); a cleaning function never raises; the row
accounting of :func:`build_mentions` always balances.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datapipeline.engines.local import build_mentions
from datapipeline.errors import DataPipelineError
from datapipeline.extract.encoding import decode_to_utf8
from datapipeline.extract.files import parse_json_records, read_csv, read_json
from datapipeline.mentions.cleaning import clean_text_columns, decode_escaped_bytes, parse_date
from datapipeline.mentions.matching import normalize_for_matching
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

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
