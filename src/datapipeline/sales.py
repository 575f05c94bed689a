"""The sales tables the two SQL queries read: TRANSACTIONS and PRODUCT_NOMENCLATURE.

They are sources like the others (``kind: transactions`` or ``kind: product_nomenclature`` in
an import config; ``config/sales_to_import.yaml`` imports the shipped sample), read by the
same registered readers, but typed: the queries add prices and compare dates, so the lake
keeps dates, integers and decimals, not text. A value that does not convert is one error line
naming the file, the row and the column.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from datapipeline.errors import InputError
from datapipeline.schema import SALES_TABLES, SOURCE_FILE, SOURCE_ROW

if TYPE_CHECKING:
    from datapipeline.config import Source
    from datapipeline.lake import Lake

#: What each type expects, for error lines.
_EXPECTED = {
    pa.date32(): "a date YYYY-MM-DD",
    pa.int64(): "an integer",
    pa.decimal128(12, 2): "a number with at most 2 decimals",
    pa.string(): "text",
}


def table_schema(kind: str) -> pa.Schema:
    """The lake schema of a sales table: its typed columns, then provenance."""
    return pa.schema(
        [*SALES_TABLES[kind], pa.field(SOURCE_FILE, pa.string()), pa.field(SOURCE_ROW, pa.int64())]
    )


def _typed_column(batch: pa.RecordBatch, column: str, to: pa.DataType, source: str) -> pa.Array:
    text = pc.utf8_trim_whitespace(batch.column(column).cast(pa.string()))
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    try:
        return text.cast(to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    for i, value in enumerate(text.to_pylist()):  # find the row to name (an error path)
        try:
            pa.array([value], pa.string()).cast(to)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            row = batch.column(SOURCE_ROW)[i].as_py()
            raise InputError(
                f"{source}: row {row}: column {column!r}: {value!r} is not {_EXPECTED[to]}"
            ) from None
    raise InputError(f"{source}: column {column!r}: expected {_EXPECTED[to]}")


def typed_batches(
    batches: Iterator[pa.RecordBatch], kind: str, source: str
) -> Iterator[pa.RecordBatch]:
    """A reader's text batches as the sales table ``kind``: its columns (any case, extra ones
    dropped) converted to their types, provenance kept."""
    schema = table_schema(kind)
    for batch in batches:
        by_lower = {name.strip().lower(): name for name in batch.schema.names}
        missing = [f.name for f in SALES_TABLES[kind] if f.name not in by_lower]
        if missing:
            found = [n for n in batch.schema.names if n not in (SOURCE_FILE, SOURCE_ROW)]
            raise InputError(
                f"{source}: missing column {missing[0]!r} for {kind}; found columns: "
                f"{', '.join(found) or '(none)'}"
            )
        arrays = [
            _typed_column(batch, by_lower[f.name], f.type, source) for f in SALES_TABLES[kind]
        ]
        arrays += [
            batch.column(SOURCE_FILE).cast(pa.string()),
            batch.column(SOURCE_ROW).cast(pa.int64()),
        ]
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def import_sales_source(source: Source, lake: Lake) -> int:
    """Import one sales source into its lake table (replacing its own part); rows read."""
    from datapipeline.extract import get_reader
    from datapipeline.run.sources import reader_options

    kind = source.source_kind
    reader = get_reader(source.source_type)
    rows = 0

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal rows
        batches = reader(source.source, **reader_options(source))
        for batch in typed_batches(iter(batches), kind, source.source):
            rows += batch.num_rows
            yield batch

    lake.write_part_batches(source.dest_table, source.source_id, counted(), table_schema(kind))
    return rows
