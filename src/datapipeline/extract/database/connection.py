"""Where a database source connects: its type, its options (no secrets), its URL built with
the password from the environment or an Airflow connection, shown redacted; its errors as one
line with the secrets removed."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from datapipeline.errors import ConfigError, InputError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


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
