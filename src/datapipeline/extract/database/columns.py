"""Driver values as Arrow string batches, with the provenance columns (no per-row Python
when Arrow can type a column)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from datapipeline.errors import InputError
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW


def to_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def to_string_array(values: Sequence[object]) -> pa.Array:
    """One column of driver values as Arrow strings, converted by Arrow (no per-row Python).

    Dates become ``YYYY-MM-DD``, timestamps ISO 8601 (``YYYY-MM-DDTHH:MM:SS[.ffffff]``),
    booleans ``true``/``false``, integral floats without ``.0``; values Arrow cannot type
    (UUIDs, JSON documents, mixed types) fall back to ``str()`` one by one.
    """
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return pa.array([to_text(v) for v in values], pa.string())
    return arrow_to_string(array)


def arrow_to_string(array: pa.Array) -> pa.Array:
    """A typed Arrow column as strings, with the formats of :func:`to_string_array`."""
    if pa.types.is_string(array.type):
        return array
    if pa.types.is_null(array.type) or pa.types.is_large_string(array.type):
        return array.cast(pa.string())
    if pa.types.is_timestamp(array.type):
        text = pc.strftime(array, "%Y-%m-%dT%H:%M:%S")  # seconds with 6 decimals
        return pc.replace_substring_regex(text, r"\.0+$", "")
    if not (
        isinstance(array.type, pa.BaseExtensionType)  # UUIDs: Arrow casts them to raw bytes
        or pa.types.is_binary(array.type)
        or pa.types.is_large_binary(array.type)
        or pa.types.is_fixed_size_binary(array.type)
    ):
        try:
            return array.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return pa.array([to_text(v) for v in array.to_pylist()], pa.string())


def transpose(rows: Sequence[Sequence[object]], width: int) -> list[Sequence[object]]:
    """Result rows as columns (one C-level ``zip``)."""
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]


def columns_to_batch(
    columns: Sequence[Sequence[object]], names: list[str], provenance: str, first_row: int
) -> pa.RecordBatch:
    """A chunk of result columns as a string batch with provenance (rows numbered from 1)."""
    length = len(columns[0]) if columns else 0
    arrays = [to_string_array(c) for c in columns]
    return with_provenance(arrays, names, provenance, first_row, length)


def with_provenance(
    arrays: list[pa.Array], names: list[str], provenance: str, first_row: int, length: int
) -> pa.RecordBatch:
    arrays = [
        *arrays,
        pa.repeat(pa.scalar(provenance, pa.string()), length),
        pa.array(range(first_row, first_row + length), pa.int64()),
    ]
    return pa.RecordBatch.from_arrays(arrays, names=[*names, SOURCE_FILE, SOURCE_ROW])


def column_index(names: list[str], column: str | None, where: str) -> int:
    lowered = [n.lower() for n in names]
    if column is None or column.lower() not in lowered:
        raise InputError(
            f"{where}: watermark column {column!r} not in the result; "
            f"found columns: {', '.join(names)}"
        )
    return lowered.index(column.lower())
