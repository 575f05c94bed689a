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
from datapipeline.errors import BadFileError
from datapipeline.extract.canonical import TEXT
from datapipeline.extract.edge import guarded
from datapipeline.extract.encoding import decode_to_utf8
from datapipeline.extract.registry import register
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

log = logging.getLogger(__name__)


def open_input(source: str) -> IO[bytes]:
    """Open an input file for reading bytes; a missing or unreadable file is one clear error."""
    try:
        return open(source, "rb")
    except FileNotFoundError:
        raise BadFileError(source, "file not found") from None
    except IsADirectoryError:
        raise BadFileError(source, "is a folder, expected a file") from None
    except OSError as exc:
        raise BadFileError(source, f"cannot be read ({exc.strerror or exc})") from None


def read_input_bytes(source: str) -> bytes:
    """The whole content of an input file; an unreadable one is one clear error."""
    with open_input(source) as handle:
        try:
            return handle.read()
        except OSError as exc:
            raise BadFileError(source, f"cannot be read ({exc.strerror or exc})") from None


def _with_provenance(frame: pl.DataFrame, source: str, names: list[str] | None = None) -> pa.Table:
    """``frame`` as an Arrow table with ``_source_row`` first (1, 2, …) and ``_source_file``
    last; the provenance columns are built in Arrow, not materialised by Polars.

    ``names``, when given, are the data columns' names in the table (a header may repeat a
    name, which Arrow allows and Polars does not).
    """
    # Arrow column names are C strings: a NUL in a header (a corrupt file) cannot be exported.
    # Such names are cleaned; a name that would then clash keeps U+FFFD in the NUL's place.
    renames: dict[str, str] = {}
    for column in frame.columns:
        if "\x00" in column:
            name = column.replace("\x00", "")
            if name in frame.columns or name in renames.values():
                name = column.replace("\x00", "\ufffd")
            renames[column] = name
    # One chunk (Polars concatenates its string views without copying the text), exported as
    # string views: the text stays where Polars parsed it (see canonical.TEXT).
    data = frame.rename(renames).rechunk().to_arrow(compat_level=pl.CompatLevel.newest())
    rows = pl.int_range(1, frame.height + 1, dtype=pl.Int64, eager=True).to_arrow()
    files = pa.repeat(pa.scalar(source, TEXT), frame.height)  # one copy of the name, viewed
    columns = data.column_names if names is None else [n.replace("\x00", "") for n in names]
    return pa.Table.from_arrays(
        [rows, *data.columns, files], names=[SOURCE_ROW, *columns, SOURCE_FILE]
    )


def normalise_line_ends(data: bytes) -> bytes:
    """``data`` with every line ending in ``\\n`` when some end in a lone ``\\r`` (old Mac
    exports, or a mix), as Python's ``csv`` reads them; otherwise ``data`` itself.

    The fast reader knows ``\\n`` and ``\\r\\n`` only: it would read a file of ``\\r``
    lines as one header line and no row. A ``\\r`` inside a quoted value becomes ``\\n``: both
    are white space, which the cleaning rules turn into one space.
    """
    if b"\r" not in data:  # the common case: one scan, no copy
        return data
    if data.count(b"\r") == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


#: How Polars renames the second and later occurrences of a header name.
_DEDUPLICATED = re.compile(r"_duplicated_\d+$")


@register("csv")
@guarded
def read_csv(source: str, **options: object) -> Iterator[pa.RecordBatch]:
    """Read a CSV file with a header row; every column as a string.

    Values are not trimmed here; ``_source_row`` counts data records from 1 (the header is not
    a record). An empty file (no header) is an error; a header-only file is zero rows. Lines
    may end in ``\\n``, ``\\r\\n`` or ``\\r`` (:func:`normalise_line_ends`); a name repeated
    in the header keeps every column under its name (the canonical columns judge the clash).
    """
    data = normalise_line_ends(decode_to_utf8(read_input_bytes(source), source).data)
    # isspace() stops at the first other byte; strip() would copy the whole file to find out
    if not data or data.isspace():
        raise BadFileError(source, "empty file, expected a header row")
    separator = str(options.get("separator", ","))
    names = None
    try:
        try:
            frame = _parse_csv(data, separator, has_header=True)
            repeated = any(_DEDUPLICATED.search(c) for c in frame.columns)
        except pl.exceptions.DuplicateError:
            repeated = True
        if repeated:
            # A name repeats in the header: read the header as a row to keep every column
            # under its own name (the canonical columns then refuse a clash, never drop one).
            frame = _parse_csv(data, separator, has_header=False)
            names = [str(v) if v is not None else "" for v in frame.row(0)]
            frame = frame.slice(1)
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        where = csv_error_position(data, separator)
        if where:
            raise BadFileError(source, where) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadFileError(source, f"not a readable CSV file ({first})") from None
    yield from _with_provenance(frame, source, names).to_batches()


def _parse_csv(data: bytes, separator: str, has_header: bool) -> pl.DataFrame:
    return pl.read_csv(
        io.BytesIO(data),
        separator=separator,
        infer_schema=False,
        has_header=has_header,
        raise_if_empty=True,
    )


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
        raise BadFileError(source, "empty file, expected a JSON array of records")

    def fail(message: str, at: int) -> BadFileError:
        line = text.count("\n", 0, at) + 1
        column = at - (text.rfind("\n", 0, at) + 1) + 1
        return BadFileError(source, f"line {line} column {column}: {message}")

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
            raise BadFileError(
                source, f"record {index}: expected a JSON object, found {type(record).__name__}"
            )
    return records


def _skip_ws(text: str, pos: int) -> int:
    length = len(text)
    while pos < length and text[pos] in " \t\r\n":
        pos += 1
    return pos


_TRAILING_COMMA = re.compile(rb",\s*\]\s*$")
#: Polars reads a JSON array in pieces of about this size: its parser builds a tree of the
#: whole document first, and on tens of MB that tree costs more than the parse (the figures
#: are in benchmarks/README.md).
_PIECE_BYTES = 1 << 18
#: Where a piece may end: a record's closing brace and its comma ending a line. A JSON string
#: cannot hold a line break, so these close a value; if not a record of the array (a nested
#: value), the piece is not valid JSON and the array is read whole.
_PIECE_END = re.compile(rb"\},[ \t\r]*\n")
#: The columns of a large JSON array are first learnt from its first records (parsed in
#: Python: at most this many, in at most this many bytes), to read every column as strings
#: without inferring types from every value. Smaller files infer: that costs less.
_SAMPLE_RECORDS = 1000
_SAMPLE_BYTES = 1 << 20
_SAMPLE_FROM_SIZE = 1 << 20
_POLARS_ERRORS = (pl.exceptions.PolarsError, ValueError, RuntimeError, pl.exceptions.PanicException)


def _read_json_fast(data: bytes, source: str) -> pl.DataFrame | None:
    """A JSON array of flat records read by Polars' native reader, or None to take the slow path.

    Only accepted when every column comes out as strings, integers or nulls: Polars turns ints
    (and, in a column that also holds strings, other scalars) into the same text as
    :func:`_scalar_to_text`, so the frame equals the one the Python parser would build. Anything
    else (floats, booleans, nested values, JSON Lines, syntax errors) goes to the slow path,
    which also words the errors.

    The frame is what reading the whole array with types inferred from every record gives
    (columns, their order, values); it is built from pieces of the array, with every column
    read as strings when a sample of the records allows it (:func:`_read_pieces_as_strings`),
    else with types inferred piece by piece (:func:`_read_pieces_inferred`), else whole.
    """
    head = data[:64].lstrip()
    if not head.startswith(b"[") or head[1:].lstrip().startswith(b"]"):
        return None
    found = _TRAILING_COMMA.search(data, max(0, len(data) - 64))
    comma = None if found is None else found.start()
    pieces = _array_pieces(data, comma)
    frame = None
    if len(data) >= _SAMPLE_FROM_SIZE:
        frame = _read_pieces_as_strings(data, pieces)
    if frame is None:
        frame = _read_pieces_inferred(pieces)
    if frame is None and len(pieces) > 1:
        frame = _read_pieces_inferred([_array_pieces(data, comma, whole=True)[0]])
    if frame is None:
        return None
    if comma is not None:
        repairs.note(source, repairs.TRAILING_COMMA, "trailing comma after the last record ignored")
    return frame


def _array_pieces(data: bytes, comma: int | None, whole: bool = False) -> list[bytes]:
    """The JSON array ``data`` as arrays of consecutive records (``[`` … ``]``) of about
    :data:`_PIECE_BYTES` each (one when ``whole``), without the trailing comma at ``comma``.

    Together they hold the bytes of ``data`` but for the commas between pieces (one copy)."""
    view = memoryview(data)
    start = data.index(b"[") + 1
    end = len(data) if comma is None else comma
    pieces: list[bytes] = []
    while not whole and (cut := _PIECE_END.search(data, start + _PIECE_BYTES, end)):
        pieces.append(b"".join((b"[", view[start : cut.start() + 1], b"]")))
        start = cut.start() + 2  # after the comma
    rest = (view[start:],) if comma is None else (view[start:comma], view[comma + 1 :])
    pieces.append(b"".join((b"[", *rest)))
    return pieces


def _read_pieces_inferred(pieces: list[bytes]) -> pl.DataFrame | None:
    """The records of ``pieces`` with each piece's types inferred from all its records, every
    column then cast to strings; None unless each is strings, integers or nulls.

    Whole, this is what the array gives read at once (types inferred from every record). In
    pieces too when each later piece has no column the first lacks: then the union of the
    columns, and their order, are the first piece's (Polars orders the union of two records'
    columns by the one with more columns). Otherwise None: the array is read whole.
    """
    frames: list[pl.DataFrame] = []
    for piece in pieces:
        try:
            frame = pl.read_json(piece, infer_schema_length=None)
        except _POLARS_ERRORS:
            return None
        if not frame.height or any(t not in (pl.String, pl.Int64, pl.Null) for t in frame.dtypes):
            return None
        if frames and not set(frame.columns) <= set(frames[0].columns):
            return None
        frames.append(frame.with_columns(pl.all().cast(pl.String)))
    return pl.concat(frames, how="diagonal") if len(frames) > 1 else frames[0]


def _read_pieces_as_strings(data: bytes, pieces: list[bytes]) -> pl.DataFrame | None:
    """:func:`_read_pieces_inferred` without inferring types from every value, or None.

    The first records of ``data`` (:func:`_sample_json_kinds`) must give each column a string
    or only nulls: such a column is a string column whatever the other records hold, and
    Polars writes their scalars in it as text the same way. Each piece is read with the
    columns of its first record as strings; Polars refuses a record with another key (an
    error, hence None), so the columns of the array are those first records' and their order
    the one Polars infers from them. A key the sample does not have (its values may be integers
    only, which only the full inference tells from floats), or a column null in the sample
    that holds a value further on, gives None.
    """
    kinds = _sample_json_kinds(data)
    if kinds is None:
        return None
    columns: list[str] = []
    frames: list[pl.DataFrame] = []
    for piece in pieces:
        keys = _first_record_keys(piece)
        if keys is None or any(key not in kinds for key in keys):
            return None
        try:
            frame = pl.read_json(
                piece, infer_schema_length=1, schema_overrides=dict.fromkeys(keys, pl.String)
            )
        except _POLARS_ERRORS:
            return None
        if not frame.height or frame.columns != keys:
            return None
        columns = _union_columns(columns, keys)
        frames.append(frame)
    frame = pl.concat(frames, how="diagonal").select(columns) if len(frames) > 1 else frames[0]
    nulls = [column for column in columns if kinds[column] is None]
    if nulls and any(frame.select(pl.col(nulls).is_not_null().any()).row(0)):
        return None
    return frame


def _union_columns(left: list[str], right: list[str]) -> list[str]:
    """The columns Polars infers from records with columns ``left`` then ``right``: those of
    the one with more columns (``left`` on a tie), then the other's new ones."""
    longest, shortest = (left, right) if len(left) >= len(right) else (right, left)
    return longest + [column for column in shortest if column not in longest]


def _first_record_keys(piece: bytes) -> list[str] | None:
    """The keys of the first record of a piece of a JSON array, or None."""
    text = piece[: 1 << 14].decode("utf-8", errors="ignore")
    try:
        record, _ = json.JSONDecoder().raw_decode(text, _skip_ws(text, 1))
    except (ValueError, RecursionError):
        return None
    return list(record) if isinstance(record, dict) else None


def _sample_json_kinds(data: bytes) -> dict[str, str | None] | None:
    """Column -> "str" (a string in one of the first records of a JSON array) or None (only
    nulls there); None when a record is not an object, or a value is neither a string, an
    integer nor null, or a column holds integers but no string."""
    text = data[:_SAMPLE_BYTES].decode("utf-8", errors="ignore")
    decoder = json.JSONDecoder()
    kinds: dict[str, str | None] = {}
    integers: set[str] = set()
    records = 0
    pos = _skip_ws(text, text.find("[") + 1)
    while records < _SAMPLE_RECORDS:
        try:
            record, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            break  # the end of the sample (or an error, which Polars will meet)
        if not isinstance(record, dict):
            return None
        for key, value in record.items():
            if isinstance(value, str):
                kinds[key] = "str"
                continue
            kinds.setdefault(key, None)
            if type(value) is int:
                integers.add(key)
            elif value is not None:
                return None
        records += 1
        pos = _skip_ws(text, pos)
        if not text.startswith(",", pos):
            break
        pos = _skip_ws(text, pos + 1)
    if not records or any(kinds[key] is None for key in integers):
        return None
    return kinds


@register("json")
@guarded
def read_json(source: str, **options: object) -> Iterator[pa.RecordBatch]:
    """Read a JSON file of records; every value becomes a string (ids may be ints or strings)."""
    decoded = decode_to_utf8(read_input_bytes(source), source)
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
