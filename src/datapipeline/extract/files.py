"""File readers: CSV and JSON, tolerant of the defects of real exported files."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import IO, Any

import polars as pl
import pyarrow as pa

from datapipeline import repairs
from datapipeline.errors import InputError
from datapipeline.extract.encoding import decode_to_utf8
from datapipeline.extract.registry import register
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

log = logging.getLogger(__name__)


def open_input(source: str) -> IO[bytes]:
    """Open an input file for reading bytes; a missing or unreadable file is one clear error."""
    try:
        return open(source, "rb")
    except FileNotFoundError:
        raise InputError(f"{source}: file not found") from None
    except IsADirectoryError:
        raise InputError(f"{source}: is a folder, expected a file") from None
    except OSError as exc:
        raise InputError(f"{source}: cannot be read ({exc.strerror})") from None


def _read_bytes(source: str) -> bytes:
    with open_input(source) as handle:
        return handle.read()


def _with_provenance(frame: pl.DataFrame, source: str) -> pa.Table:
    # Arrow column names are C strings: a NUL in a header (a corrupt file) cannot be exported.
    # Such names are cleaned; a name that would then clash keeps U+FFFD in the NUL's place.
    renames: dict[str, str] = {}
    for column in frame.columns:
        if "\x00" in column:
            name = column.replace("\x00", "")
            if name in frame.columns or name in renames.values():
                name = column.replace("\x00", "\ufffd")
            renames[column] = name
    frame = (
        frame.rename(renames)
        .with_row_index(SOURCE_ROW, offset=1)
        .with_columns(pl.col(SOURCE_ROW).cast(pl.Int64), pl.lit(source).alias(SOURCE_FILE))
    )
    return frame.to_arrow()


@register("csv")
def read_csv(source: str, **options: object) -> Iterator[pa.RecordBatch]:
    """Read a CSV file with a header row; every column as a string.

    Values are not trimmed here; ``_source_row`` counts data records from 1 (the header is not
    a record). An empty file (no header) is an error; a header-only file is zero rows.
    """
    decoded = decode_to_utf8(_read_bytes(source), source)
    # isspace() stops at the first other byte; strip() would copy the whole file to find out
    if not decoded.data or decoded.data.isspace():
        raise InputError(f"{source}: empty file, expected a header row")
    separator = str(options.get("separator", ","))
    try:
        frame = pl.read_csv(
            io.BytesIO(decoded.data),
            separator=separator,
            infer_schema=False,
            has_header=True,
            raise_if_empty=True,
        )
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        where = csv_error_position(decoded.data, separator)
        if where:
            raise InputError(f"{source}: {where}") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{source}: not a readable CSV file ({first})") from None
    yield from _with_provenance(frame, source).to_batches()


def csv_error_position(data: bytes, separator: str) -> str | None:
    """Where a CSV the fast reader refused goes wrong, as ``line N: what``, or None.

    Only called on the error path: the standard library's reader walks the records to find the
    first one with more fields than the header, or the quote that is never closed.
    """
    header: int | None = None
    start = 1
    rows = csv.reader(
        io.StringIO(data.decode("utf-8"), newline=""), delimiter=separator, strict=True
    )
    try:
        for fields in rows:
            if header is None:
                header = len(fields)
            elif len(fields) > header:
                return f"line {start}: {len(fields)} fields, the header has {header}"
            start = rows.line_num + 1
    except csv.Error as exc:
        if "end of data" in str(exc) or rows.line_num > start:
            return f"line {start}: a quoted field opened on this line is never closed"
        return f"line {start}: malformed CSV ({exc})"
    return None


def scalar_to_text(value: Any) -> str | None:
    """A JSON scalar as text: ids may be ints in one record and strings in the next."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def parse_json_records(text: str, source: str) -> list[dict[str, Any]]:
    """Parse a JSON array of objects, JSON Lines, or a lone object, into a list of records.

    A trailing comma before the array's closing bracket (an export defect seen in the wild) is
    accepted with a warning; any other syntax error names the line and column.
    """
    decoder = json.JSONDecoder()
    records: list[Any] = []
    pos = _skip_ws(text, 0)
    if pos == len(text):
        raise InputError(f"{source}: empty file, expected a JSON array of records")

    def fail(message: str, at: int) -> InputError:
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        return InputError(f"{source}: line {line} column {column}: {message}")

    def decode_at(at: int) -> tuple[Any, int]:
        try:
            return decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise fail(f"invalid JSON ({exc.msg})", exc.pos) from None
        except RecursionError:
            raise fail("JSON nested too deeply", at) from None

    if text[pos] == "[":
        pos = _skip_ws(text, pos + 1)
        if pos < len(text) and text[pos] == "]":
            return []
        while True:
            value, pos = decode_at(pos)
            records.append(value)
            pos = _skip_ws(text, pos)
            if pos >= len(text):
                raise fail("unexpected end of file, expected ',' or ']'", pos)
            if text[pos] == "]":
                pos += 1
                break
            if text[pos] != ",":
                raise fail(f"expected ',' or ']', found {text[pos]!r}", pos)
            pos = _skip_ws(text, pos + 1)
            if pos < len(text) and text[pos] == "]":
                repairs.note(
                    source, repairs.TRAILING_COMMA, "trailing comma after the last record ignored"
                )
                pos += 1
                break
        if _skip_ws(text, pos) != len(text):
            raise fail("unexpected content after the closing ']'", _skip_ws(text, pos))
    else:
        # JSON Lines, or several concatenated objects
        while pos < len(text):
            value, pos = decode_at(pos)
            records.append(value)
            pos = _skip_ws(text, pos)
    for index, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InputError(
                f"{source}: record {index}: expected a JSON object, found {type(record).__name__}"
            )
    return records


def _skip_ws(text: str, pos: int) -> int:
    length = len(text)
    while pos < length and text[pos] in " \t\r\n":
        pos += 1
    return pos


_TRAILING_COMMA = re.compile(rb",\s*\]\s*$")


def _read_json_fast(data: bytes, source: str) -> pl.DataFrame | None:
    """A JSON array of flat records read by Polars' native reader, or None to take the slow path.

    Only accepted when every column comes out as strings, integers or nulls: Polars turns ints
    (and, in a column that also holds strings, other scalars) into the same text as
    :func:`_scalar_to_text`, so the frame equals the one the Python parser would build. Anything
    else (floats, booleans, nested values, JSON Lines, syntax errors) goes to the slow path,
    which also words the errors.
    """
    head = data[:64].lstrip()
    if not head.startswith(b"[") or head[1:].lstrip().startswith(b"]"):
        return None
    tail_start = max(0, len(data) - 64)
    tail = _TRAILING_COMMA.sub(b"]", data[tail_start:])
    trailing_comma = len(tail) != len(data) - tail_start
    try:
        frame = pl.read_json(io.BytesIO(data[:tail_start] + tail), infer_schema_length=None)
    except (pl.exceptions.PolarsError, ValueError, RuntimeError):
        return None
    if not all(dtype in (pl.String, pl.Int64, pl.Null) for dtype in frame.dtypes):
        return None
    if trailing_comma:
        repairs.note(source, repairs.TRAILING_COMMA, "trailing comma after the last record ignored")
    return frame.with_columns(pl.all().cast(pl.String))


@register("json")
def read_json(source: str, **options: object) -> Iterator[pa.RecordBatch]:
    """Read a JSON file of records; every value becomes a string (ids may be ints or strings)."""
    decoded = decode_to_utf8(_read_bytes(source), source)
    fast = _read_json_fast(decoded.data, source)
    if fast is not None:
        yield from _with_provenance(fast, source).to_batches()
        return
    records = parse_json_records(decoded.data.decode("utf-8"), source)
    columns: dict[str, list[str | None]] = {}
    for index, record in enumerate(records):
        for key in record:
            if key not in columns:
                columns[key] = [None] * index
        for key, values in columns.items():
            values.append(scalar_to_text(record.get(key)))
    frame = pl.DataFrame(
        {key: pl.Series(key, values, dtype=pl.String) for key, values in columns.items()},
        schema={key: pl.String for key in columns},
    )
    yield from _with_provenance(frame, source).to_batches()
