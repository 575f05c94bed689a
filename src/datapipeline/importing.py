"""The import job: one source into its lake table, streamed batch by batch to Parquet.

``datapipeline import``, ``run_import.sh`` and the Airflow import tasks call
:func:`import_source`; the main job (``datapipeline run``) imports through its engine.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import replace

import pyarrow as pa

from datapipeline.config import Source
from datapipeline.errors import ConfigError
from datapipeline.extract import get_reader
from datapipeline.extract.canonical import batch_to_canonical, canonical_schema, resolve_canonical
from datapipeline.extract.database import DATABASE_TYPES
from datapipeline.extract.watermark import IncrementalRun
from datapipeline.lake import Lake
from datapipeline.lake.parts import SourceEntry, single_source_part
from datapipeline.repairs import collect as collect_repairs
from datapipeline.run.imports import file_digest, retire_elsewhere, source_key
from datapipeline.run.sources import reader_options
from datapipeline.sales import import_sales_source
from datapipeline.schema import KINDS, SALES_TABLES

log = logging.getLogger(__name__)


class _CanonicalStream:
    """A reader's batches renamed to the canonical columns, one batch at a time; counts rows."""

    def __init__(self, batches: Iterator[pa.RecordBatch], source: Source) -> None:
        self.batches = batches
        self.kind = KINDS[source.source_kind]
        self.source = source.source
        self.rows = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        found: dict[str, str] | None = None
        for batch in self.batches:
            if found is None:
                found = resolve_canonical(batch.schema.names, self.kind, self.source)
            canonical = batch_to_canonical(batch, self.kind, self.source, found)
            self.rows += canonical.num_rows
            yield canonical


def import_source(source: Source, lake: Lake, full_reload: bool = False) -> int:
    """Import one source into its lake table, streaming batches to Parquet; returns rows read.

    A source without a watermark replaces its own part. A database source with
    ``options.watermark`` is incremental: a rerun reads only rows past the watermark stored
    in the lake, into a part of its own (earlier rows are kept); ``full_reload`` forgets the
    state and reads everything again, replacing every part the source wrote before.
    """
    if source.source_kind in SALES_TABLES:  # typed tables of the SQL queries
        return import_sales_source(source, lake)
    kind = KINDS[source.source_kind]
    reader = get_reader(source.source_type)
    column = source.options.get("watermark")
    if not column:
        key = source_key(source)
        stream = _CanonicalStream(reader(source.source, **reader_options(source)), source)
        with collect_repairs(warn=True) as repairs:  # recorded in the part; warned here
            entry = _entry(source, key)
            part = single_source_part(key)

            def entries() -> list[SourceEntry]:
                noted = tuple(sorted({r.repair for r in repairs}))
                return [replace(entry, rows=stream.rows, repairs=noted)]

            lake.write_part_batches(
                source.dest_table, part, stream, canonical_schema(kind), entries
            )
        # the rows an earlier import of the source left in another part leave the lake
        retire_elsewhere(lake, source.dest_table, key, part)
        _log_import(stream.rows, source, lake)
        return stream.rows
    if source.source_type not in DATABASE_TYPES:
        raise ConfigError(
            f"source {source.source_id!r}: options.watermark applies to database sources "
            f"({', '.join(DATABASE_TYPES)}), not {source.source_type!r}"
        )
    run = IncrementalRun.begin(lake, source.source_id, source.dest_table, str(column), full_reload)
    options = reader_options(source, watermark_tracker=run.tracker)
    stream = _CanonicalStream(reader(source.source, **options), source)
    if run.full:
        lake.write_part_batches(source.dest_table, run.part, stream, canonical_schema(kind))
        run.commit(wrote_part=True)
    else:
        batches = iter(stream)
        first = next((b for b in batches if b.num_rows), None)
        if first is not None:  # new rows: a part of their own; none: nothing to write
            rest = itertools.chain([first], batches)
            lake.write_part_batches(source.dest_table, run.part, rest, canonical_schema(kind))
        run.commit(wrote_part=first is not None)
    _log_import(stream.rows, source, lake)
    return stream.rows


def _entry(source: Source, key: str) -> SourceEntry:
    """What the footer says of ``source`` (its rows counted once read)."""
    entry = SourceEntry(
        key=key,
        source=source.source,
        source_type=source.source_type,
        offset=0,
        rows=0,
        generation=time.time_ns(),
    )
    if source.source_type in DATABASE_TYPES or "://" in source.source:
        return entry
    try:
        stat = os.stat(source.source)
    except OSError:
        return entry  # the reader says why it cannot read it
    return replace(
        entry,
        size=stat.st_size,
        mtime_ns=stat.st_mtime_ns,
        sha256=file_digest(source.source),
    )


def _log_import(rows: int, source: Source, lake: Lake) -> None:
    log.info(
        "imported %s rows from %s into %s/%s", rows, source.source_id, lake.url, source.dest_table
    )
