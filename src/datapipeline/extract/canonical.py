"""Renaming a reader's columns to a source kind's canonical columns."""

from __future__ import annotations

import pyarrow as pa

from datapipeline.errors import BadFileError
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW, SourceKind

#: The type of the canonical text columns in memory. String views are Polars' own layout:
#: a reader's frame is handed to Arrow, and back to Polars for cleaning, without copying the
#: text (a copy of every value each way with Arrow's ``string``). The lake's Parquet files
#: store plain UTF-8 text, read back as ``string`` (see :meth:`Lake.writer_options`).
TEXT = pa.string_view()


def canonical_schema(kind: SourceKind) -> pa.Schema:
    """The schema of a part of ``kind`` as read: its canonical columns as text
    (:data:`TEXT`), and provenance."""
    fields = [pa.field(c, TEXT) for c in kind.columns]
    return pa.schema([*fields, pa.field(SOURCE_FILE, TEXT), pa.field(SOURCE_ROW, pa.int64())])


def resolve_canonical(column_names: list[str], kind: SourceKind, source: str) -> dict[str, str]:
    """Map canonical column -> input column; a missing required column is a clear error.

    The error names the source, the missing column and the columns that were found. Two
    input columns that spell one canonical column (``title`` and ``scientific_title``, a
    name repeated in the header) are an error naming them: neither is dropped silently.
    """
    data_columns = [c for c in column_names if c not in (SOURCE_FILE, SOURCE_ROW)]
    clash = kind.column_clash(data_columns)
    if clash:
        raise BadFileError(source, clash, reason="duplicate_column")
    found = kind.resolve_columns(data_columns)
    missing = [c for c in kind.required if c not in found]
    if missing:
        wanted = " or ".join(repr(a) for a in kind.columns[missing[0]])
        raise BadFileError(
            source,
            f"missing column {wanted} for {kind.name}; "
            f"found columns: {', '.join(data_columns) or '(none)'}",
            reason="missing_column",
        )
    return found


def _canonical_arrays(
    data: pa.Table | pa.RecordBatch, kind: SourceKind, found: dict[str, str]
) -> list[pa.Array | pa.ChunkedArray]:
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for canonical in kind.columns:
        if canonical in found:
            arrays.append(_as(data.column(found[canonical]), TEXT))
        else:
            arrays.append(pa.nulls(data.num_rows, TEXT))
    arrays.append(_as(data.column(SOURCE_FILE), TEXT))
    arrays.append(_as(data.column(SOURCE_ROW), pa.int64()))
    return arrays


def _as(column: pa.Array | pa.ChunkedArray, to: pa.DataType) -> pa.Array | pa.ChunkedArray:
    # Arrow's cast is not free even to the same type (it walks the views): skipped then.
    return column if column.type == to else column.cast(to)


def to_canonical(table: pa.Table, kind: SourceKind, source: str) -> pa.Table:
    """Select and rename ``table``'s columns to ``kind``'s canonical ones, all text.

    A required column missing from the input is an error naming the file, the missing column
    and the columns that were found; optional ones are filled with nulls; extra columns are
    dropped (the lake keeps what the pipeline uses, with its provenance). Provenance columns
    get fixed types (text, int64) so parts written by different readers concatenate.
    """
    found = resolve_canonical(table.column_names, kind, source)
    return pa.Table.from_arrays(
        _canonical_arrays(table, kind, found), schema=canonical_schema(kind)
    )


def batch_to_canonical(
    batch: pa.RecordBatch, kind: SourceKind, source: str, found: dict[str, str] | None = None
) -> pa.RecordBatch:
    """:func:`to_canonical` for one record batch; pass ``found`` to resolve the columns once."""
    if found is None:
        found = resolve_canonical(batch.schema.names, kind, source)
    return pa.RecordBatch.from_arrays(
        _canonical_arrays(batch, kind, found),
        schema=canonical_schema(kind),
    )
