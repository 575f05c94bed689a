"""Session fixtures: real PostgreSQL and MariaDB servers, started once and always stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.extract.db_servers import MariaDBServer, PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    server = MariaDBServer()
    try:
        yield server.start()
    finally:
        server.stop()
