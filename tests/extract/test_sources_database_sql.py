"""Database sources without a server: URLs, secrets, identifiers and the SQL each dialect gets.

SQL Server and Oracle are only tested here (no server can run on this machine): their URLs
and the statements compiled with their SQLAlchemy dialects.
"""

from __future__ import annotations

import datetime as dt
import decimal
import sys
import types
import uuid
from typing import ClassVar

import pyarrow as pa
import pytest
from sqlalchemy.dialects.mssql import pyodbc as mssql_pyodbc
from sqlalchemy.dialects.mysql import pymysql as mysql_pymysql
from sqlalchemy.dialects.oracle import oracledb as oracle_oracledb
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.exc import OperationalError

from datapipeline.errors import ConfigError
from datapipeline.extract import get_reader, source_types
from datapipeline.extract.database import (
    DatabaseOptions,
    Target,
    build_select,
    build_url,
    compile_sql,
    database_error,
    env_name,
    parse_options,
    parse_target,
    redact,
    to_string_array,
)
from datapipeline.extract.watermark import WatermarkTracker, decode_value, encode_value, part_for

#: The dialects of the drivers each source type uses (no driver needed to compile).
DIALECTS = {
    "postgres": postgresql_psycopg.dialect(),
    "mysql": mysql_pymysql.dialect(),
    "mssql": mssql_pyodbc.dialect(paramstyle="qmark"),  # pyodbc's style, set by the driver
    "oracle": oracle_oracledb.dialect(),
}

HOSTILE = [
    "publications; DROP TABLE drugs",
    'pubs" OR 1=1 --',
    "pubs`; DELETE FROM x",
    "pubs] ; DROP TABLE x --",
    "pubs/**/UNION/**/SELECT",
    "pubs\nDROP",
    "1pubs",
    "",
    "a" * 129,
    "pubs'",
]


def test_every_database_type_is_registered() -> None:
    assert {"postgres", "mysql", "mssql", "oracle"} <= set(source_types())
    assert get_reader("POSTGRES") is get_reader("postgres")


@pytest.mark.parametrize(
    ("source_type", "drivername", "port"),
    [
        ("postgres", "postgresql+psycopg", 5432),
        ("mysql", "mysql+pymysql", 3306),
        ("mssql", "mssql+pyodbc", 1433),
        ("oracle", "oracle+oracledb", 1521),
    ],
)
def test_url_per_database_with_password_from_the_environment(
    source_type: str, drivername: str, port: int
) -> None:
    options = DatabaseOptions(host="db.internal", database="pharma", user="etl")
    env = {"DATAPIPELINE_PUBS_PROD_PASSWORD": "p@ss:w/rd"}
    url = build_url(source_type, "pubs-prod", options, env)
    assert url.drivername == drivername
    assert (url.host, url.port, url.database, url.username) == (
        "db.internal",
        port,
        "pharma",
        "etl",
    )
    assert url.password == "p@ss:w/rd"
    shown = redact(url)
    assert "p@ss" not in shown
    assert "etl" not in shown
    assert shown == f"{drivername}://db.internal:{port}/pharma"


def test_mssql_and_oracle_driver_options_go_to_the_url_query() -> None:
    url = build_url(
        "mssql",
        "trials",
        DatabaseOptions(
            host="sql1", database="ct", user="u", query={"driver": "ODBC Driver 18 for SQL Server"}
        ),
        {},
    )
    assert url.query == {"driver": "ODBC Driver 18 for SQL Server"}
    assert "driver=ODBC+Driver+18+for+SQL+Server" in url.render_as_string()
    url = build_url(
        "oracle",
        "ora",
        DatabaseOptions(host="ora1", user="u", query={"service_name": "XEPDB1"}),
        {},
    )
    assert (url.drivername, url.host, url.port, url.database) == (
        "oracle+oracledb",
        "ora1",
        1521,
        None,
    )
    assert url.query == {"service_name": "XEPDB1"}


def test_password_env_and_whole_url_env() -> None:
    options = DatabaseOptions(host="h", user="u", password_env="MY_PG_PW")
    url = build_url("postgres", "pg", options, {"MY_PG_PW": "s1", "DATAPIPELINE_PG_PASSWORD": "s2"})
    assert url.password == "s1"
    env = {"DATAPIPELINE_PG_URL": "postgresql+psycopg://a:tok3n@h2:6543/db2?sslmode=require"}
    url = build_url("postgres", "pg", DatabaseOptions(host="ignored"), env)
    assert (url.host, url.port, url.password, url.query["sslmode"]) == (
        "h2",
        6543,
        "tok3n",
        "require",
    )
    assert "tok3n" not in redact(url)
    assert "require" not in redact(url)


def test_env_var_names_follow_the_source_id() -> None:
    assert env_name("pubmed.prod-1", "PASSWORD") == "DATAPIPELINE_PUBMED_PROD_1_PASSWORD"


def test_a_password_in_the_config_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as err:
        parse_options("pg", {"host": "h", "password": "hunter2"})
    assert "DATAPIPELINE_PG_PASSWORD" in str(err.value)
    assert "hunter2" not in str(err.value)


def test_unknown_or_invalid_options_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"options\.hots: unknown key"):
        parse_options("pg", {"hots": "h"})
    with pytest.raises(ConfigError, match=r"options\.port"):
        parse_options("pg", {"port": 70000})


def test_airflow_connection_supplies_settings_when_airflow_is_present(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Conn:
        host, port, schema, login, password = "af-host", 5544, "afdb", "af-user", "af-secret"
        extra_dejson: ClassVar[dict[str, str]] = {"sslmode": "verify-full"}

    class BaseHook:
        @staticmethod
        def get_connection(conn_id: str) -> Conn:
            assert conn_id == "pharma_pg"
            return Conn()

    sdk = types.ModuleType("airflow.sdk")
    sdk.BaseHook = BaseHook  # type: ignore[attr-defined]
    # both replaced: with Airflow installed, a real airflow.sdk may already be imported
    for name, module in {"airflow": types.ModuleType("airflow"), "airflow.sdk": sdk}.items():
        monkeypatch.setitem(sys.modules, name, module)
    url = build_url("postgres", "pg", DatabaseOptions(conn_id="pharma_pg", database="other"), {})
    assert (url.host, url.port, url.username, url.password) == (
        "af-host",
        5544,
        "af-user",
        "af-secret",
    )
    assert url.database == "other"  # the config overrides the connection's schema
    assert url.query == {"sslmode": "verify-full"}
    # an environment password wins over the stored one
    url = build_url(
        "postgres", "pg", DatabaseOptions(conn_id="pharma_pg"), {"DATAPIPELINE_PG_PASSWORD": "env"}
    )
    assert url.password == "env"


def test_conn_id_without_airflow_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # makes `import airflow…` fail, even when Airflow is installed and already imported
    monkeypatch.setitem(sys.modules, "airflow", None)
    monkeypatch.setitem(sys.modules, "airflow.sdk", None)
    with pytest.raises(ConfigError, match="needs Airflow installed"):
        build_url("postgres", "pg", DatabaseOptions(conn_id="x"), {})


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_table_names_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="invalid"):
        parse_target(name)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_column_and_watermark_names_are_refused(name: str) -> None:
    target = Target(table="pubs")
    with pytest.raises(ConfigError, match="invalid"):
        build_select(target, columns=["id", name])
    with pytest.raises(ConfigError, match="invalid"):
        build_select(target, watermark=name, incremental=True)


def test_schema_dot_table_and_query_targets() -> None:
    assert parse_target("sales.publications") == Target(table="publications", schema="sales")
    assert parse_target("  select 1 ;").query == "select 1"
    assert parse_target("WITH x AS (SELECT 1) SELECT * FROM x").query is not None
    with pytest.raises(ConfigError):
        parse_target("a.b.c")


@pytest.mark.parametrize(
    ("source_type", "expected"),
    [
        ("postgres", 'SELECT * \nFROM "Order Details"'),
        ("mysql", "SELECT * \nFROM `Order Details`"),
        ("mssql", "SELECT * \nFROM [Order Details]"),
        ("oracle", 'SELECT * \nFROM "Order Details"'),
    ],
)
def test_names_needing_quotes_get_the_dialects_quoting(source_type: str, expected: str) -> None:
    sql = compile_sql(build_select(parse_target("Order Details")), DIALECTS[source_type])
    assert sql == expected


@pytest.mark.parametrize(
    ("source_type", "order", "since"),
    [
        ("postgres", '"order"', "%(since)s"),
        ("mysql", "`order`", "%s"),
        ("mssql", "[order]", "?"),
        ("oracle", '"order"', ":since"),
    ],
)
def test_incremental_select_with_reserved_words(source_type: str, order: str, since: str) -> None:
    statement = build_select(
        parse_target("sales.order"),
        columns=["id", "title"],
        watermark="updated_at",
        incremental=True,
    )
    sql = compile_sql(statement, DIALECTS[source_type])
    assert sql.replace("\n", "") == (
        f"SELECT sales.{order}.id, sales.{order}.title FROM sales.{order} "
        f"WHERE sales.{order}.updated_at > {since}"
    )


def test_mixed_case_names_are_quoted_per_dialect_rules() -> None:
    statement = build_select(parse_target("Publications"), columns=["PMID"])
    assert compile_sql(statement, DIALECTS["postgres"]).replace("\n", "") == (
        'SELECT "Publications"."PMID" FROM "Publications"'
    )


def test_query_source_is_a_subquery_and_keeps_colons_literal() -> None:
    target = parse_target("SELECT id, title, '10:30' AS t FROM pubs WHERE x::int > 1")
    statement = build_select(target, watermark="updated_at", incremental=True)
    assert list(statement.compile().params) == ["since"]
    sql = compile_sql(statement, DIALECTS["postgres"])
    assert "'10:30'" in sql
    assert "x::int" in sql
    assert sql.replace("\n", "").endswith("AS src WHERE src.updated_at > %(since)s")
    assert "AS src" not in compile_sql(statement, DIALECTS["oracle"])  # Oracle: no AS for aliases


def test_a_full_read_has_no_watermark_condition() -> None:
    statement = build_select(parse_target("pubs"), watermark="updated_at", incremental=False)
    assert "WHERE" not in compile_sql(statement, DIALECTS["postgres"])


def test_driver_errors_become_one_line_without_the_secret() -> None:
    url = build_url(
        "postgres",
        "pg",
        DatabaseOptions(host="h", user="u"),
        {"DATAPIPELINE_PG_PASSWORD": "S3cr3t!"},
    )
    original = Exception(
        'connection failed:\nFATAL:  password authentication failed for "u"\nS3cr3t!'
    )
    error = database_error(OperationalError("SELECT 1", {}, original), "pg (db)", url)
    message = str(error)
    assert "\n" not in message
    assert "S3cr3t" not in message
    assert "password authentication failed" in message
    assert error.transient is False  # refused credentials: retrying will not help
    network = database_error(OperationalError("x", {}, Exception("timeout expired")), "pg", url)
    assert network.transient is True


def test_driver_values_become_strings_by_arrow() -> None:
    cases: list[tuple[list[object], list[str | None]]] = [
        ([1, None, 2**40], ["1", None, "1099511627776"]),
        ([1.0, 2.5], ["1", "2.5"]),
        ([True, False], ["true", "false"]),
        ([decimal.Decimal("1.50")], ["1.50"]),
        ([dt.date(2020, 1, 2)], ["2020-01-02"]),
        ([dt.datetime(2020, 1, 2, 10, 5, 7)], ["2020-01-02T10:05:07"]),
        ([uuid.UUID(int=1)], ["00000000-0000-0000-0000-000000000001"]),
        ([b"caf\xc3\xa9"], ["café"]),
        (["a", 1], ["a", "1"]),
        ([None, None], [None, None]),
    ]
    for values, expected in cases:
        array = to_string_array(values)
        assert array.type == pa.string()
        assert array.to_pylist() == expected


@pytest.mark.parametrize(
    "value",
    [
        7,
        2.5,
        decimal.Decimal("10.25"),
        dt.datetime(2024, 5, 1, 10, 0, 1, 5),
        dt.date(2024, 5, 1),
        "k-9",
    ],
)
def test_watermark_values_round_trip_with_their_type(value: object) -> None:
    assert decode_value(encode_value(value)) == value
    assert type(decode_value(encode_value(value))) is type(value)


def test_tracker_keeps_the_largest_value_across_chunks() -> None:
    tracker = WatermarkTracker("updated_at", since=dt.datetime(2024, 1, 1))
    assert tracker.last == dt.datetime(2024, 1, 1)
    tracker.observe([dt.datetime(2024, 3, 1), None, dt.datetime(2024, 2, 1)])
    tracker.observe([None])
    tracker.observe([dt.datetime(2024, 2, 15)])
    assert tracker.last == dt.datetime(2024, 3, 1)
    ints = WatermarkTracker("id")
    ints.observe([9, 10, 2])
    assert ints.last == 10  # numeric, not text, order


def test_increment_parts_are_named_after_their_lower_bound() -> None:
    assert part_for("pg", None) == "pg"
    first = part_for("pg", dt.datetime(2024, 1, 1))
    assert first.startswith("pg-")
    assert first == part_for("pg", dt.datetime(2024, 1, 1))
    assert first != part_for("pg", dt.datetime(2024, 1, 2))


def test_adbc_sql_renders_the_watermark_as_an_escaped_literal() -> None:
    from datapipeline.extract.database import ReadPlan, adbc_sql, use_adbc

    def plan(since: object) -> ReadPlan:
        tracker = WatermarkTracker("updated_at", since=since)
        statement = build_select(
            parse_target("pubs"), watermark="updated_at", incremental=True, since=since
        )
        url = build_url("postgres", "pg", DatabaseOptions(host="h"), {})
        return ReadPlan("postgres", statement, url, "pg", "p", "updated_at", tracker, 10)

    sql = adbc_sql(plan(dt.datetime(2024, 5, 1, 10, 0, 0, 5))).replace("\n", "")
    assert sql == "SELECT * FROM pubs WHERE pubs.updated_at > '2024-05-01 10:00:00.000005'"
    assert adbc_sql(plan("o'x; DROP TABLE pubs")).endswith("> 'o''x; DROP TABLE pubs'")
    assert adbc_sql(plan(41)).endswith("> 41")
    assert use_adbc("mysql", "auto") is False
    assert use_adbc("postgres", "sqlalchemy") is False
    with pytest.raises(ConfigError, match="engine 'adbc' needs a PostgreSQL source"):
        use_adbc("mysql", "adbc")


def test_a_missing_server_fails_under_ci_and_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.extract import db_servers

    monkeypatch.setattr(db_servers, "_mariadb_binaries", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="MariaDB is not installed"):
        db_servers.MariaDBServer()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="MariaDB is not installed"):
        db_servers.MariaDBServer()
