"""Database readers: PostgreSQL, MySQL/MariaDB, SQL Server and Oracle through SQLAlchemy.

A database source reads a table (``schema.table``) or a query (``SELECT …``) given as its
``source``. Connection settings live in the source's ``options`` (host, port, database, user,
driver options); secrets never do: the password comes from the environment variable
``DATAPIPELINE_<SOURCE_ID>_PASSWORD`` (or the one named by ``password_env``), a whole URL from
``DATAPIPELINE_<SOURCE_ID>_URL``, or an Airflow connection (``conn_id``). URLs are shown
redacted (no user, password or query) in provenance, logs and errors.

Rows are streamed with a server-side cursor (``yield_per``): memory holds one chunk of
``chunk_size`` rows at a time, whatever the table's size. Each chunk becomes one Arrow record
batch of strings with the provenance columns. Table and column names are validated, then quoted
by the dialect's own identifier preparer: no SQL can be injected through them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from datapipeline.errors import ConfigError, InputError
from datapipeline.extract.registry import register
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import URL, Dialect

    from datapipeline.extract.watermark import WatermarkTracker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatabaseType:
    """A supported database: its SQLAlchemy driver name, default port and Python driver."""

    name: str
    drivername: str
    port: int
    package: str


DATABASE_TYPES: dict[str, DatabaseType] = {
    t.name: t
    for t in (
        DatabaseType("postgres", "postgresql+psycopg", 5432, "psycopg[binary]"),
        DatabaseType("mysql", "mysql+pymysql", 3306, "pymysql"),
        DatabaseType("mssql", "mssql+pyodbc", 1433, "pyodbc"),
        DatabaseType("oracle", "oracle+oracledb", 1521, "oracledb"),
    )
}

DEFAULT_CHUNK_SIZE = 10_000
#: Size of the Arrow batches ADBC's PostgreSQL driver builds from the COPY stream.
ADBC_BATCH_BYTES = 8 * 2**20
_MAX_IDENTIFIER = 128
#: A table or column name: word characters and ``$``, with single inner spaces or hyphens
#: (``Order Details``); no quotes, semicolons, dots, comment markers or control characters.
_IDENTIFIER = re.compile(r"^(?!\d)[\w$]+(?:[ -][\w$]+)*$")
_QUERY = re.compile(r"^\s*\(?\s*(select|with)\b", re.IGNORECASE)
_AUTH_WORDS = ("password", "authentication", "access denied", "login failed", "ora-01017")


class DatabaseOptions(BaseModel):
    """The ``options`` of a database source (config ``sources[].options``); no secrets here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str | None = Field(default=None, description="Server host name or address.")
    port: int | None = Field(default=None, gt=0, lt=65536, description="Server port.")
    database: str | None = Field(default=None, description="Database (or Oracle service).")
    user: str | None = Field(default=None, description="User name (not a secret).")
    driver: str | None = Field(
        default=None, description="SQLAlchemy driver name, e.g. postgresql+psycopg."
    )
    query: dict[str, str] = Field(
        default_factory=dict,
        description="Driver options added to the URL query (sslmode, ODBC driver, …).",
    )
    password_env: str | None = Field(
        default=None, description="Environment variable holding the password."
    )
    url_env: str | None = Field(
        default=None, description="Environment variable holding the whole SQLAlchemy URL."
    )
    conn_id: str | None = Field(default=None, description="Airflow connection id.")
    columns: list[str] | None = Field(default=None, description="Columns to read (default all).")
    watermark: str | None = Field(
        default=None, description="Column for incremental extraction (rows > last value)."
    )
    chunk_size: int = Field(
        default=DEFAULT_CHUNK_SIZE, gt=0, description="Rows per batch (SQLAlchemy engine)."
    )
    engine: Literal["auto", "sqlalchemy", "adbc"] = Field(
        default="auto",
        description="auto: ADBC for PostgreSQL when adbc-driver-postgresql is installed "
        "(Arrow batches straight from COPY), SQLAlchemy otherwise.",
    )


class DatabaseSourceError(InputError):
    """A database cannot be reached or read; transient unless credentials were refused."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


def env_name(source_id: str, what: str) -> str:
    """``DATAPIPELINE_<SOURCE_ID>_<WHAT>``, the id upper-cased, other characters as ``_``."""
    return f"DATAPIPELINE_{re.sub(r'[^A-Za-z0-9]', '_', source_id).upper()}_{what}"


def parse_options(source_id: str, options: Mapping[str, Any]) -> DatabaseOptions:
    """Validate a database source's options; a clear error names the source and the key."""
    if "password" in options:
        raise ConfigError(
            f"source {source_id!r}: options.password: passwords are never read from config "
            f"files; set the environment variable {env_name(source_id, 'PASSWORD')} "
            "(or options.password_env, or an Airflow connection with options.conn_id)"
        )
    try:
        return DatabaseOptions.model_validate(dict(options))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"]) or "(options)"
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        raise ConfigError(f"source {source_id!r}: options.{key}: {message}") from None


def _airflow_connection(conn_id: str, source_id: str) -> Any:
    try:
        from airflow.sdk import BaseHook  # Airflow 3 (airflow.hooks.base is a deprecated alias)
    except ImportError:
        raise ConfigError(
            f"source {source_id!r}: options.conn_id needs Airflow installed; "
            f"without Airflow set {env_name(source_id, 'PASSWORD')} instead"
        ) from None
    try:
        return BaseHook.get_connection(conn_id)
    except Exception as exc:  # Airflow raises its own AirflowNotFoundException
        raise ConfigError(
            f"source {source_id!r}: Airflow connection {conn_id!r} not found ({type(exc).__name__})"
        ) from None


def build_url(
    source_type: str,
    source_id: str,
    options: DatabaseOptions,
    environ: Mapping[str, str] | None = None,
) -> URL:
    """The SQLAlchemy URL of a database source, the password taken from the environment.

    Precedence: a whole URL in ``url_env`` / ``DATAPIPELINE_<ID>_URL``; otherwise the
    settings of the Airflow connection ``conn_id`` (if any), overridden by the options given;
    the password from ``password_env`` / ``DATAPIPELINE_<ID>_PASSWORD`` if set, else from
    the Airflow connection.
    """
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    environ = os.environ if environ is None else environ
    db_type = DATABASE_TYPES[source_type]
    url_var = options.url_env or env_name(source_id, "URL")
    if environ.get(url_var):
        try:
            return make_url(environ[url_var])
        except ArgumentError:
            raise ConfigError(
                f"source {source_id!r}: {url_var} is not a valid database URL "
                "(expected dialect+driver://user:password@host:port/database)"
            ) from None
        except ValueError:
            raise ConfigError(f"source {source_id!r}: {url_var}: invalid port") from None
    host, port, database, user, password = None, None, None, None, None
    query: dict[str, str] = {}
    if options.conn_id:
        conn = _airflow_connection(options.conn_id, source_id)
        host, port, database = conn.host, conn.port, conn.schema
        user, password = conn.login, conn.password
        extra = conn.extra_dejson or {}
        query = {str(k): str(v) for k, v in extra.items() if isinstance(v, (str, int, float))}
    password_var = options.password_env or env_name(source_id, "PASSWORD")
    if environ.get(password_var):
        password = environ[password_var]
    return URL.create(
        options.driver or db_type.drivername,
        username=options.user or user,
        password=password or None,
        host=options.host or host,
        port=options.port or port or (db_type.port if (options.host or host) else None),
        database=options.database or database,
        query={**query, **options.query},
    )


def redact(url: URL) -> str:
    """The URL without user, password or query: safe for logs, errors and provenance."""
    from sqlalchemy.engine import URL

    bare = URL.create(url.drivername, host=url.host, port=url.port, database=url.database)
    return bare.render_as_string(hide_password=True)


@dataclass(frozen=True)
class Target:
    """What a database source reads: a table (with optional schema) or a query."""

    table: str | None = None
    schema: str | None = None
    query: str | None = None

    @property
    def label(self) -> str:
        """A short name for provenance: ``schema.table`` or ``query``."""
        if self.query is not None:
            return "query"
        return f"{self.schema}.{self.table}" if self.schema else str(self.table)


def validate_identifier(name: str, what: str) -> str:
    """Check one table, schema or column name; hostile names are refused before any SQL."""
    if not name or len(name) > _MAX_IDENTIFIER or not _IDENTIFIER.match(name):
        raise ConfigError(
            f"invalid {what} name {name!r}: expected letters, digits, '_' or '$' "
            "(inner single spaces or '-' allowed), not starting with a digit, at most "
            f"{_MAX_IDENTIFIER} characters"
        )
    return name


def parse_target(source: str) -> Target:
    """``SELECT …``/``WITH …`` is a query; otherwise ``table`` or ``schema.table``."""
    text = source.strip()
    if _QUERY.match(text):
        return Target(query=text.rstrip(" \t\r\n;"))
    parts = text.split(".")
    if len(parts) > 2:
        raise ConfigError(
            f"invalid table {source!r}: expected table or schema.table (or a SELECT query)"
        )
    table = validate_identifier(parts[-1], "table")
    schema = validate_identifier(parts[0], "schema") if len(parts) == 2 else None
    return Target(table=table, schema=schema)


def build_select(
    target: Target,
    columns: Sequence[str] | None = None,
    watermark: str | None = None,
    incremental: bool = False,
    since: object = None,
) -> sa.Select[Any]:
    """The SELECT statement of a source; ``:since`` bounds the watermark when incremental.

    Names are SQLAlchemy ``quoted_name`` objects: each dialect's preparer quotes them when
    needed (reserved words, capitals, spaces), with its own quoting (``"x"``, `` `x` ``,
    ``[x]``). A query is wrapped as a subquery, its colons kept literal.
    """
    import sqlalchemy as sa

    wanted = [validate_identifier(c, "column") for c in columns or []]
    if watermark is not None:
        validate_identifier(watermark, "watermark column")
    names = list(dict.fromkeys([*wanted, *([watermark] if watermark else [])]))
    from_: Any
    if target.query is not None:
        # Colons would otherwise be read as bind parameters (e.g. '10:30' in a literal).
        text = sa.text(target.query.replace(":", r"\:")).columns(*[sa.column(c) for c in names])
        from_ = text.subquery("src")
    else:
        from_ = sa.table(
            sa.sql.quoted_name(str(target.table), None),
            *[sa.column(sa.sql.quoted_name(c, None)) for c in names],
            schema=sa.sql.quoted_name(target.schema, None) if target.schema else None,
        )
    selected = [from_.c[c] for c in wanted] if wanted else [sa.text("*")]
    wm_column = from_.c[watermark] if watermark else None
    statement = sa.select(*selected).select_from(from_)
    if incremental and wm_column is not None:
        # typed by the value when given (so it can also be rendered as a literal)
        statement = statement.where(wm_column > sa.bindparam("since", since))
    return statement


def compile_sql(statement: sa.Select[Any], dialect: Dialect) -> str:
    """The SQL text of ``statement`` in ``dialect`` (parameters stay placeholders)."""
    return str(statement.compile(dialect=dialect))


def _to_text(value: object) -> str | None:
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
        return pa.array([_to_text(v) for v in values], pa.string())
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
    return pa.array([_to_text(v) for v in array.to_pylist()], pa.string())


def transpose(rows: Sequence[Sequence[object]], width: int) -> list[Sequence[object]]:
    """Result rows as columns (one C-level ``zip``)."""
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]


def columns_to_batch(
    columns: Sequence[Sequence[object]], names: list[str], provenance: str, first_row: int
) -> pa.RecordBatch:
    """A chunk of result columns as a string batch with provenance (rows numbered from 1)."""
    length = len(columns[0]) if columns else 0
    arrays = [to_string_array(c) for c in columns]
    return _with_provenance(arrays, names, provenance, first_row, length)


def _one_line(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def database_error(exc: BaseException, where: str, url: URL) -> DatabaseSourceError:
    """One clear line for a driver or SQLAlchemy error, the password and URL secrets removed."""
    from urllib.parse import quote_plus

    original = getattr(exc, "orig", None) or exc
    password = url.password if isinstance(url.password, str) else None
    secrets = [password, quote_plus(password)] if password else []
    secrets += [str(v) for v in url.query.values()]
    message = _one_line(f"{type(original).__name__}: {original}", [s for s in secrets if s])
    lowered = message.lower()
    refused = any(word in lowered for word in _AUTH_WORDS)
    transient = type(exc).__name__ in ("OperationalError", "InterfaceError") and not refused
    return DatabaseSourceError(f"{where}: {message}", transient=transient)


@dataclass
class _Plan:
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
    plan = _Plan(
        source_type=source_type,
        statement=build_select(
            target, options.columns, watermark, incremental=since is not None, since=since
        ),
        url=url,
        where=f"{source_id} ({redact(url)} {target.label})",
        provenance=f"{redact(url)}/{target.label}"
        + (f"?{watermark}>{_to_text(since)}" if since is not None else ""),
        watermark=watermark,
        tracker=watermark_tracker,
        chunk_size=options.chunk_size,
    )
    if use_adbc(source_type, options.engine):
        rows = yield from _read_adbc(plan)
    else:
        rows = yield from _read_sqlalchemy(plan)
    log.info("read %s rows from %s", rows, plan.where)


def _read_sqlalchemy(plan: _Plan) -> Generator[pa.RecordBatch, None, int]:
    """Stream with a server-side cursor (``yield_per``): one chunk of rows alive at a time."""
    try:
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool
    except ImportError:
        raise ConfigError(
            f"{plan.where}: database sources need SQLAlchemy: pip install 'datapipeline[db]'"
        ) from None
    try:
        engine = sa.create_engine(plan.url, poolclass=NullPool, hide_parameters=True)
    except (ImportError, sa.exc.NoSuchModuleError) as exc:
        package = DATABASE_TYPES[plan.source_type].package
        raise ConfigError(
            f"{plan.where}: driver not installed ({type(exc).__name__}); install {package} "
            "(pip install 'datapipeline[db]' brings the PostgreSQL and MySQL ones)"
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
            wm_index = _column_index(names, plan.watermark, plan.where) if plan.tracker else None
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


def adbc_sql(plan: _Plan) -> str:
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


def _read_adbc(plan: _Plan) -> Generator[pa.RecordBatch, None, int]:
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
            wm_index = _column_index(names, plan.watermark, plan.where) if plan.tracker else None
            for typed in reader:
                if wm_index is not None and plan.tracker is not None:
                    plan.tracker.observe(typed.column(wm_index))
                columns = [arrow_to_string(c) for c in typed.columns]
                yield _with_provenance(columns, names, plan.provenance, row, typed.num_rows)
                row += typed.num_rows
            if row == 1:
                empty = [pa.array([], pa.string()) for _ in names]
                yield _with_provenance(empty, names, plan.provenance, row, 0)
    except adbc_driver_manager.Error as exc:
        raise database_error(exc, plan.where, plan.url) from None
    return row - 1


def _with_provenance(
    arrays: list[pa.Array], names: list[str], provenance: str, first_row: int, length: int
) -> pa.RecordBatch:
    arrays = [
        *arrays,
        pa.repeat(pa.scalar(provenance, pa.string()), length),
        pa.array(range(first_row, first_row + length), pa.int64()),
    ]
    return pa.RecordBatch.from_arrays(arrays, names=[*names, SOURCE_FILE, SOURCE_ROW])


def _column_index(names: list[str], column: str | None, where: str) -> int:
    lowered = [n.lower() for n in names]
    if column is None or column.lower() not in lowered:
        raise InputError(
            f"{where}: watermark column {column!r} not in the result; "
            f"found columns: {', '.join(names)}"
        )
    return lowered.index(column.lower())


def _register(source_type: str) -> None:
    def reader(source: str, **options: Any) -> Iterator[pa.RecordBatch]:
        return read_database(source_type, source, **options)

    reader.__name__ = f"read_{source_type}"
    reader.__doc__ = f"Read a {source_type} table or query (see :func:`read_database`)."
    register(source_type)(reader)


for _type in DATABASE_TYPES:
    _register(_type)
