"""Renaming a reader's columns to a source kind's canonical columns."""

from __future__ import annotations

import pyarrow as pa

from datapipeline.errors import InputError
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW, SourceKind


def to_canonical(table: pa.Table, kind: SourceKind, source: str) -> pa.Table:
    """Select and rename ``table``'s columns to ``kind``'s canonical ones, all strings.

    A required column missing from the input is an error naming the file, the missing column
    and the columns that were found; optional ones are filled with nulls; extra columns are
    dropped (the lake keeps what the pipeline uses, with its provenance).
    """
    data_columns = [c for c in table.column_names if c not in (SOURCE_FILE, SOURCE_ROW)]
    found = kind.resolve_columns(data_columns)
    missing = [c for c in kind.required if c not in found]
    if missing:
        wanted = " or ".join(repr(a) for a in kind.columns[missing[0]])
        raise InputError(
            f"{source}: missing column {wanted} for {kind.name}; "
            f"found columns: {', '.join(data_columns) or '(none)'}"
        )
    arrays = []
    for canonical in kind.columns:
        if canonical in found:
            arrays.append(table.column(found[canonical]).cast(pa.string()))
        else:
            arrays.append(pa.nulls(table.num_rows, pa.string()))
    names = [*kind.columns, SOURCE_FILE, SOURCE_ROW]
    arrays += [
        table.column(SOURCE_FILE).cast(pa.string()),
        table.column(SOURCE_ROW).cast(pa.int64()),
    ]
    return pa.Table.from_arrays(arrays, names=names)
