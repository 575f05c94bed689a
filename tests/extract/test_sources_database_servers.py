"""Database sources against real servers started by the session fixtures (PostgreSQL, MariaDB).

The same scenarios run on both: a table streamed in chunks, incremental reruns reading only
the new rows, a full reload, a query source, quoting of awkward names, hostile names refused
before any SQL, and a wrong password giving one line without the secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from datapipeline import importing
from datapipeline.cli import main
from datapipeline.config import Source
from datapipeline.errors import ConfigError
from datapipeline.extract import get_reader
from datapipeline.lake import Lake
from datapipeline.run import sources
from tests.extract.db_servers import DATABASE, READER_PASSWORD, READER_USER

SOURCE_TYPE = {"postgres": "postgres", "mariadb": "mysql"}


@dataclass
class Db:
    """A running server, and the engine the reader is asked to use on it."""

    server: Any
    kind: str
    engine: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)


@pytest.fixture(
    params=[("postgres", "sqlalchemy"), ("postgres", "adbc"), ("mariadb", "sqlalchemy")],
    ids=["postgres-sqlalchemy", "postgres-adbc", "mariadb"],
)
def server(request: pytest.FixtureRequest) -> Db:
    """The running server of the parameter, with a fresh ``articles`` table of 5 rows."""
    kind, engine = request.param
    db = Db(request.getfixturevalue(kind), kind, engine)
    db.execute(
        "DROP TABLE IF EXISTS articles",
        "CREATE TABLE articles (pmid INTEGER PRIMARY KEY, title VARCHAR(200), "
        "journal VARCHAR(100), pub_date DATE, updated_at TIMESTAMP NULL)",
        "INSERT INTO articles VALUES "
        "(1, 'Ethanol and sleep', 'J Sleep', '2020-01-01', '2024-01-01 10:00:00'), "
        "(2, 'Betamethasone dosing', 'Lancet', '2020-01-02', '2024-01-02 10:00:00'), "
        "(3, 'Atropine in ICU', 'BMJ', '2020-01-03', '2024-01-03 10:00:00'), "
        "(4, 'Placebo', 'BMJ', '2020-01-04', '2024-01-04 10:00:00'), "
        "(5, 'Ethanol again', 'J Sleep', '2020-01-05', NULL)",
    )
    return db


def _source(server: Db, source_id: str = "articles_db", **options: object) -> Source:
    return Source(
        source_id=source_id,
        source_type=SOURCE_TYPE[server.kind],
        source=str(options.pop("source", "articles")),
        dest_table="pubmed",
        options={
            "host": server.host,
            "port": server.port,
            "database": DATABASE,
            "user": READER_USER,
            "engine": server.engine,
            **options,
        },
    )


@pytest.fixture
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAPIPELINE_ARTICLES_DB_PASSWORD", READER_PASSWORD)


def _rows(lake: Lake) -> list[dict[str, object]]:
    rows = lake.read_table("pubmed").select(["source_id", "title", "date", "journal"]).to_pylist()
    return sorted(rows, key=lambda r: int(str(r["source_id"])))


@pytest.mark.usefixtures("password")
def test_table_streams_in_chunks_with_provenance(server: Db) -> None:
    source = _source(server, chunk_size=2, columns=["pmid", "title", "journal", "pub_date"])
    batches = list(get_reader(source.source_type)(source.source, **sources.reader_options(source)))
    if server.engine == "adbc":  # ADBC sizes its batches in bytes (8 MiB), not rows
        assert [b.num_rows for b in batches] == [5]
    else:
        assert [b.num_rows for b in batches] == [2, 2, 1]
    rows = [r for b in batches for r in b.to_pylist()]
    assert [r["_source_row"] for r in rows] == [1, 2, 3, 4, 5]
    provenance = rows[0]["_source_file"]
    assert provenance.endswith(f":{server.port}/{DATABASE}/articles")
    assert READER_USER not in provenance
    assert READER_PASSWORD not in provenance
    first = min(rows, key=lambda r: int(r["pmid"]))
    assert first["title"] == "Ethanol and sleep"
    assert first["pub_date"] == "2020-01-01"


@pytest.mark.usefixtures("password")
def test_incremental_reruns_read_only_new_rows(server: Db, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    source = _source(
        server,
        source="SELECT pmid AS id, title, journal, pub_date AS date, updated_at FROM articles",
        watermark="updated_at",
    )
    assert importing.import_source(source, lake) == 5
    state = lake.read_state("articles_db")
    assert state is not None
    assert state["watermark"] == {"type": "datetime", "value": "2024-01-04T10:00:00"}
    assert state["parts"] == ["articles_db"]

    # nothing new: nothing read, no new part, the state unchanged
    assert importing.import_source(source, lake) == 0
    assert len(lake.part_files("pubmed")) == 1
    assert lake.read_state("articles_db") == state

    server.execute(
        "INSERT INTO articles VALUES "
        "(6, 'Isoprenaline', 'NEJM', '2021-02-01', '2024-02-01 09:00:00'), "
        "(7, 'Ethanol, a review', 'NEJM', '2021-02-02', '2024-02-02 09:00:00')",
        "UPDATE articles SET title = 'Edited but older watermark' WHERE pmid = 1",
    )
    assert importing.import_source(source, lake) == 2  # only the rows past the watermark
    parts = lake.part_files("pubmed")
    assert len(parts) == 2
    new_part = next(p for p in parts if not p.endswith("/articles_db.parquet"))
    assert sorted(pq.read_table(new_part).column("source_id").to_pylist()) == ["6", "7"]
    assert (
        "updated_at>2024-01-04T10:00:00"
        in pq.read_table(new_part).column("_source_file")[0].as_py()
    )
    assert [r["source_id"] for r in _rows(lake)] == ["1", "2", "3", "4", "5", "6", "7"]
    assert _rows(lake)[0]["title"] == "Ethanol and sleep"  # earlier rows kept as read
    state = lake.read_state("articles_db")
    assert state is not None
    assert state["watermark"]["value"] == "2024-02-02T09:00:00"

    # a full reload reads everything again into one part and forgets the increments
    assert importing.import_source(source, lake, full_reload=True) == 7
    assert [Path(p).name for p in lake.part_files("pubmed")] == ["articles_db.parquet"]
    assert _rows(lake)[0]["title"] == "Edited but older watermark"
    state = lake.read_state("articles_db")
    assert state is not None
    assert state["parts"] == ["articles_db"]


@pytest.mark.usefixtures("password")
def test_changed_watermark_column_asks_for_a_full_reload(server: Db, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    query = "SELECT pmid AS id, title, journal, pub_date AS date, updated_at FROM articles"
    importing.import_source(_source(server, source=query, watermark="updated_at"), lake)
    with pytest.raises(ConfigError, match="--full-reload"):
        importing.import_source(_source(server, source=query, watermark="id"), lake)
    assert importing.import_source(_source(server, source=query, watermark="id"), lake, True) == 5
    state = lake.read_state("articles_db")
    assert state is not None
    assert state["watermark"] == {"type": "int", "value": "5"}


@pytest.mark.usefixtures("password")
def test_awkward_names_are_quoted_and_hostile_ones_refused(server: Db, tmp_path: Path) -> None:
    quote = '"' if server.kind == "postgres" else "`"
    server.execute(
        f"DROP TABLE IF EXISTS {quote}Order Details{quote}",
        f"CREATE TABLE {quote}Order Details{quote} ({quote}Select{quote} VARCHAR(20), "
        f"{quote}order{quote} INTEGER)",
        f"INSERT INTO {quote}Order Details{quote} VALUES ('x', 1), ('y', 2)",
    )
    source = _source(server, source="Order Details", columns=["Select", "order"])
    batches = list(get_reader(source.source_type)(source.source, **sources.reader_options(source)))
    assert [r["Select"] for b in batches for r in b.to_pylist()] == ["x", "y"]

    hostile = _source(server, source="articles; DROP TABLE articles")
    with pytest.raises(ConfigError, match="invalid"):
        importing.import_source(hostile, Lake(tmp_path / "lake"))
    hostile = _source(server, columns=["title FROM articles; DROP TABLE articles; --"])
    with pytest.raises(ConfigError, match="invalid"):
        importing.import_source(hostile, Lake(tmp_path / "lake"))
    server.execute("SELECT COUNT(*) FROM articles")  # still there


def test_wrong_password_is_one_line_without_the_secret(
    server: Db,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "Wr0ng-S3cret-XYZ"
    monkeypatch.setenv("DATAPIPELINE_ARTICLES_DB_PASSWORD", secret)
    config = tmp_path / "file_to_import.yaml"
    config.write_text(
        "sources:\n"
        "  - source_id: articles_db\n"
        f"    source_type: {SOURCE_TYPE[server.kind]}\n"
        "    source: articles\n"
        "    dest_table: pubmed\n"
        "    options:\n"
        f"      host: {server.host}\n"
        f"      port: {server.port}\n"
        f"      database: {DATABASE}\n"
        f"      user: {READER_USER}\n"
        f"      engine: {server.engine}\n"
    )
    caplog.set_level(logging.DEBUG)
    code = main(["import", "--config_file", str(config), "--output_folder", str(tmp_path / "lk")])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: articles_db (")
    assert "denied" in lines[0].lower() or "authentication failed" in lines[0].lower()
    assert secret not in err
    assert secret not in caplog.text
    assert not Lake(tmp_path / "lk").exists("pubmed")


def test_cli_source_flag_borrows_connection_settings_from_the_config(
    server: Db,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATAPIPELINE_ARTICLES_DB_PASSWORD", READER_PASSWORD)
    config = tmp_path / "file_to_import.yaml"
    config.write_text(
        "sources:\n"
        "  - source_id: articles_db\n"
        f"    source_type: {SOURCE_TYPE[server.kind]}\n"
        "    source: other_table\n"
        "    dest_table: pubmed\n"
        "    options:\n"
        f"      host: {server.host}\n"
        f"      port: {server.port}\n"
        f"      database: {DATABASE}\n"
        f"      user: {READER_USER}\n"
        f"      engine: {server.engine}\n"
    )
    lake = tmp_path / "lk"
    code = main(
        [
            "import",
            "--config_file",
            str(config),
            "--source_id",
            "articles_db",
            "--source_type",
            SOURCE_TYPE[server.kind],
            "--source",
            "SELECT pmid AS id, title, journal, pub_date AS date FROM articles WHERE pmid < 3",
            "--dest_table",
            "pubmed",
            "--output_folder",
            str(lake),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert [r["source_id"] for r in _rows(Lake(lake))] == ["1", "2"]
