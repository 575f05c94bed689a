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

from datapipeline.extract.database.columns import to_string_array
from datapipeline.extract.database.connection import (
    DATABASE_TYPES,
    DatabaseOptions,
    DatabaseSourceError,
    DatabaseType,
    build_url,
    database_error,
    env_name,
    parse_options,
    redact,
)
from datapipeline.extract.database.reading import ReadPlan, adbc_sql, read_database, use_adbc
from datapipeline.extract.database.statements import (
    Target,
    build_select,
    compile_sql,
    parse_target,
    validate_identifier,
)

__all__ = [
    "DATABASE_TYPES",
    "DatabaseOptions",
    "DatabaseSourceError",
    "DatabaseType",
    "ReadPlan",
    "Target",
    "adbc_sql",
    "build_select",
    "build_url",
    "compile_sql",
    "database_error",
    "env_name",
    "parse_options",
    "parse_target",
    "read_database",
    "redact",
    "to_string_array",
    "use_adbc",
    "validate_identifier",
]
