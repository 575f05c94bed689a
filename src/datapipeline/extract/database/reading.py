"""Reading a database source: a server-side cursor through SQLAlchemy (one chunk of rows alive
at a time), or ADBC's PostgreSQL driver (Arrow batches from ``COPY``); each source type is
registered as a reader."""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from datapipeline.errors import ConfigError
from datapipeline.extract.database.columns import (
    arrow_to_string,
    column_index,
    columns_to_batch,
    to_text,
    transpose,
    with_provenance,
)
from datapipeline.extract.database.connection import (
    DATABASE_TYPES,
    build_url,
    database_error,
    parse_options,
    redact,
)
from datapipeline.extract.database.statements import build_select, parse_target
from datapipeline.extract.registry import register
from datapipeline.extras import install_hint

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import URL

    from datapipeline.extract.watermark import WatermarkTracker

log = logging.getLogger(__name__)

#: Size of the Arrow batches ADBC's PostgreSQL driver builds from the COPY stream.
ADBC_BATCH_BYTES = 8 * 2**20


@dataclass
class ReadPlan:
    """What one extraction runs: the statement, where, and how to label and track rows."""

    source_type: str
    statement: sa.Select[Any]
    url: URL
    where: str
    provenance: str
    watermark: str | None
    tracker: WatermarkTracker | None
    chunk_size: int

    @property
    def since(self) -> object:
        return self.tracker.since if self.tracker else None


def use_adbc(source_type: str, engine: str) -> bool:
    """Whether a source is read with ADBC: PostgreSQL, engine ``adbc`` or ``auto`` + installed."""
    import importlib.util

    if engine == "sqlalchemy":
        return False
    available = source_type == "postgres" and (
        importlib.util.find_spec("adbc_driver_postgresql") is not None
    )
    if engine == "adbc" and not available:
        raise ConfigError(
            f"engine 'adbc' needs a PostgreSQL source and adbc-driver-postgresql installed "
            f"(source type {source_type!r})"
        )
    return available


def read_database(
    source_type: str,
    source: str,
    source_id: str | None = None,
    watermark_tracker: WatermarkTracker | None = None,
    environ: Mapping[str, str] | None = None,
    **raw_options: object,
) -> Iterator[pa.RecordBatch]:
    """Stream a table or query of a database as string batches.

    With a ``watermark_tracker`` holding a last value, only rows whose watermark column is
    greater are read; the tracker records the largest value seen, for the caller to store
    once the rows are safely written.
    """
    source_id = source_id or str(raw_options.pop("source_id", "") or "")
    if not source_id:
        raise ConfigError(f"{source_type} source {source!r}: a source_id is needed")
    options = parse_options(source_id, raw_options)
    target = parse_target(source)
    watermark = options.watermark or (watermark_tracker.column if watermark_tracker else None)
    since = watermark_tracker.since if watermark_tracker else None
    url = build_url(source_type, source_id, options, environ)
    plan = ReadPlan(
        source_type=source_type,
        statement=build_select(
            target, options.columns, watermark, incremental=since is not None, since=since
        ),
        url=url,
        where=f"{source_id} ({redact(url)} {target.label})",
        provenance=f"{redact(url)}/{target.label}"
        + (f"?{watermark}>{to_text(since)}" if since is not None else ""),
        watermark=watermark,
        tracker=watermark_tracker,
        chunk_size=options.chunk_size,
    )
    if use_adbc(source_type, options.engine):
        rows = yield from _read_adbc(plan)
    else:
        rows = yield from _read_sqlalchemy(plan)
    log.info("read %s rows from %s", rows, plan.where)


def _read_sqlalchemy(plan: ReadPlan) -> Generator[pa.RecordBatch, None, int]:
    """Stream with a server-side cursor (``yield_per``): one chunk of rows alive at a time."""
    try:
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool
    except ImportError:
        raise ConfigError(
            f"{plan.where}: database sources need SQLAlchemy: {install_hint('db')}"
        ) from None
    try:
        engine = sa.create_engine(plan.url, poolclass=NullPool, hide_parameters=True)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        package = DATABASE_TYPES[plan.source_type].package
        raise ConfigError(
            f"{plan.where}: driver not installed ({type(exc).__name__}); install {package} "
            f"(the extra db brings the PostgreSQL and MySQL ones: {install_hint('db')})"
        ) from None
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"{plan.where}: invalid connection settings ({exc})") from None
    log.info("reading %s with SQLAlchemy, %s rows a chunk", plan.where, plan.chunk_size)
    row = 1
    try:
        with engine.connect() as conn:
            params = {"since": plan.since} if plan.since is not None else {}
            result = conn.execution_options(yield_per=plan.chunk_size).execute(
                plan.statement, params
            )
            keys = result.keys()
            names = [str(k) for k in keys]
            wm_index = column_index(names, plan.watermark, plan.where) if plan.tracker else None
            for rows in result.partitions():
                count = len(rows)
                columns = transpose(rows, len(names))
                del rows  # only one chunk of driver rows alive at a time
                if wm_index is not None and plan.tracker is not None:
                    plan.tracker.observe(columns[wm_index])
                batch = columns_to_batch(columns, names, plan.provenance, row)
                del columns
                yield batch
                del batch
                row += count
            if row == 1:  # no rows: one empty batch still tells the columns
                yield columns_to_batch(transpose([], len(names)), names, plan.provenance, row)
    except sa.exc.SQLAlchemyError as exc:
        raise database_error(exc, plan.where, plan.url) from None
    finally:
        engine.dispose()
    return row - 1


def adbc_sql(plan: ReadPlan) -> str:
    """The statement as PostgreSQL text with the watermark bound as a literal.

    ADBC's PostgreSQL driver streams a query without parameters through ``COPY`` (bounded
    batches); with bind parameters it would fetch the whole result at once. The literal is
    rendered by SQLAlchemy's PostgreSQL dialect (strings escaped), from a value the pipeline
    read from the database itself.
    """
    from sqlalchemy.dialects.postgresql import psycopg

    compiled = plan.statement.compile(
        dialect=psycopg.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def _read_adbc(plan: ReadPlan) -> Generator[pa.RecordBatch, None, int]:
    """Stream with ADBC: Arrow batches built by the driver from ``COPY``, no Python rows."""
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc

    sql = adbc_sql(plan)
    uri = plan.url.set(drivername="postgresql").render_as_string(hide_password=False)
    log.info("reading %s with ADBC", plan.where)
    row = 1
    try:
        with adbc.connect(uri) as conn, conn.cursor() as cursor:
            cursor.adbc_statement.set_options(
                **{"adbc.postgresql.batch_size_hint_bytes": str(ADBC_BATCH_BYTES)}
            )
            cursor.execute(sql)
            reader = cursor.fetch_record_batch()
            names = list(reader.schema.names)
            wm_index = column_index(names, plan.watermark, plan.where) if plan.tracker else None
            for typed in reader:
                if wm_index is not None and plan.tracker is not None:
                    plan.tracker.observe(typed.column(wm_index))
                columns = [arrow_to_string(c) for c in typed.columns]
                yield with_provenance(columns, names, plan.provenance, row, typed.num_rows)
                row += typed.num_rows
            if row == 1:
                empty = [pa.array([], pa.string()) for _ in names]
                yield with_provenance(empty, names, plan.provenance, row, 0)
    except adbc_driver_manager.Error as exc:
        raise database_error(exc, plan.where, plan.url) from None
    return row - 1


def _register(source_type: str) -> None:
    def reader(source: str, **options: Any) -> Iterator[pa.RecordBatch]:
        return read_database(source_type, source, **options)

    reader.__name__ = f"read_{source_type}"
    reader.__doc__ = f"Read a {source_type} table or query (see :func:`read_database`)."
    register(source_type)(reader)


for _type in DATABASE_TYPES:
    _register(_type)
