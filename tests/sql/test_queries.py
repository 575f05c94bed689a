"""The two analytics queries, run unchanged on DuckDB and on a real PostgreSQL.

The same schema and rows are loaded into both engines (see the ``engine`` fixture in
conftest.py). Expected values are worked out by hand next to each data row.
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from datapipeline.sql_queries import known_queries, load_query

REPO_ROOT = Path(__file__).resolve().parents[2]
CANONICAL_DIR = REPO_ROOT / "src" / "datapipeline" / "sql"
TOP_LEVEL_DIR = REPO_ROOT / "sql_queries"

SCHEMA = """
CREATE TABLE TRANSACTIONS (
    date DATE,
    order_id INTEGER,
    client_id INTEGER,
    prod_id INTEGER,
    prod_price NUMERIC(10, 2),
    prod_qty INTEGER
);
CREATE TABLE PRODUCT_NOMENCLATURE (
    product_id INTEGER,
    product_type VARCHAR,
    product_name VARCHAR
);
"""

PRODUCTS = [
    (490756, "MEUBLE", "Chaise"),
    (389728, "MEUBLE", "Bureau"),
    (549380, "DECO", "Cadre photo"),
    (293718, "DECO", "Mug"),
]

# (date, order_id, client_id, prod_id, prod_price, prod_qty)
TRANSACTIONS = [
    # before both windows
    ("2018-12-31", 1, 845, 490756, "99.99", 1),
    # 2019: query 1 only
    ("2019-01-01", 2, 845, 490756, "10.00", 2),  # 20.00
    ("2019-01-01", 3, 999, 549380, "5.50", 3),  # 16.50
    ("2019-06-15", 4, 300, 293718, "12.34", 1),  # 12.34
    ("2019-06-15", 5, 845, 549380, "0.01", 7),  # 0.07
    ("2019-12-31", 6, 845, 389728, "100.00", 1),  # 100.00
    ("2019-12-31", 7, 999, 293718, "7.25", 4),  # 29.00
    # 2020: query 2 only
    ("2020-01-01", 8, 845, 490756, "50.00", 2),  # 845 MEUBLE 100.00
    ("2020-01-01", 9, 999, 549380, "7.12", 2),  # 999 DECO 14.24
    ("2020-03-03", 10, 999, 490756, "12.50", 4),  # 999 MEUBLE 50.00
    ("2020-06-15", 11, 845, 389728, "150.00", 2),  # 845 MEUBLE 300.00
    ("2020-06-15", 12, 845, 549380, "20.00", 2),  # 845 DECO 40.00
    ("2020-07-14", 13, 100, 293718, "4.99", 3),  # 100 DECO 14.97 (no MEUBLE)
    ("2020-08-20", 14, 200, 389728, "299.90", 1),  # 200 MEUBLE 299.90 (no DECO)
    ("2020-12-31", 15, 845, 293718, "10.00", 2),  # 845 DECO 20.00
    # after both windows; client 300 has no 2020 sale at all
    ("2021-01-01", 16, 999, 490756, "1000.00", 1),
    ("2021-01-01", 17, 300, 549380, "3.00", 1),
]

# Query 1, by hand from the 2019 rows above.
EXPECTED_QUERY_1 = [
    (date(2019, 1, 1), Decimal("36.50")),  # 20.00 + 16.50
    (date(2019, 6, 15), Decimal("12.41")),  # 12.34 + 0.07
    (date(2019, 12, 31), Decimal("129.00")),  # 100.00 + 29.00
]

# Query 2, by hand from the 2020 rows above: (client_id, ventes_meuble, ventes_deco).
EXPECTED_QUERY_2 = [
    (100, Decimal("0"), Decimal("14.97")),
    (200, Decimal("299.90"), Decimal("0")),
    (845, Decimal("400.00"), Decimal("60.00")),  # 100 + 300 ; 40 + 20
    (999, Decimal("50.00"), Decimal("14.24")),
]

TOLERANCE = Decimal("0.001")


def _data_script() -> str:
    products = ",\n".join(f"({pid}, '{ptype}', '{pname}')" for pid, ptype, pname in PRODUCTS)
    transactions = ",\n".join(
        f"(DATE '{day}', {order}, {client}, {prod}, {price}, {qty})"
        for day, order, client, prod, price, qty in TRANSACTIONS
    )
    return (
        SCHEMA
        + f"INSERT INTO PRODUCT_NOMENCLATURE VALUES\n{products};\n"
        + f"INSERT INTO TRANSACTIONS VALUES\n{transactions};\n"
    )


@pytest.fixture
def loaded(engine):
    engine.execute_script(_data_script())
    return engine


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _as_decimal(value: Any) -> Decimal:
    assert value is not None, "NULL where a number was expected"
    return Decimal(str(value))


def _close(actual: Any, expected: Decimal) -> bool:
    return abs(_as_decimal(actual) - expected) <= TOLERANCE


def test_query_1_daily_revenue_2019(loaded):
    result = loaded.query(load_query("query_1"))

    assert result.columns == ["date", "ventes"]
    days = [_as_date(row[0]) for row in result.rows]
    assert days == [day for day, _ in EXPECTED_QUERY_1]
    for row, (day, revenue) in zip(result.rows, EXPECTED_QUERY_1, strict=True):
        assert _close(row[1], revenue), f"{loaded.name} {day}: {row[1]} != {revenue}"


def test_query_2_revenue_per_client_and_type_2020(loaded):
    result = loaded.query(load_query("query_2"))

    assert result.columns == ["client_id", "ventes_meuble", "ventes_deco"]
    clients = [int(row[0]) for row in result.rows]
    assert clients == [client for client, _, _ in EXPECTED_QUERY_2]
    for row, (client, meuble, deco) in zip(result.rows, EXPECTED_QUERY_2, strict=True):
        assert _close(row[1], meuble), f"{loaded.name} client {client} meuble: {row[1]}"
        assert _close(row[2], deco), f"{loaded.name} client {client} deco: {row[2]}"


def test_query_2_zero_not_null_for_a_missing_type(loaded):
    rows = {int(row[0]): row for row in loaded.query(load_query("query_2")).rows}

    assert rows[100][1] is not None
    assert _as_decimal(rows[100][1]) == 0
    assert rows[200][2] is not None
    assert _as_decimal(rows[200][2]) == 0


def test_query_2_empty_year_gives_no_rows(engine):
    engine.execute_script(SCHEMA)
    engine.execute_script(
        "INSERT INTO PRODUCT_NOMENCLATURE VALUES (1, 'DECO', 'Vase');\n"
        "INSERT INTO TRANSACTIONS VALUES (DATE '2019-12-31', 1, 7, 1, 3.00, 1),"
        " (DATE '2021-01-01', 2, 7, 1, 3.00, 1);\n"
    )

    result = engine.query(load_query("query_2"))

    assert result.columns == ["client_id", "ventes_meuble", "ventes_deco"]
    assert result.rows == []


def test_engine_is_the_one_it_claims(engine):
    (version,) = engine.query("SELECT version() AS v").rows[0]

    # PostgreSQL: 'PostgreSQL 18.6 on x86_64...'; DuckDB: 'v1.1.3'
    assert version.startswith("PostgreSQL " if engine.name == "postgres" else "v"), version


# --- load_query and the files that back it -------------------------------------------


def test_known_queries_lists_the_shipped_files():
    on_disk = sorted(p.stem for p in CANONICAL_DIR.glob("*.sql"))

    assert {"query_1", "query_2"} <= set(known_queries())
    assert known_queries() == on_disk


@pytest.mark.parametrize("name", ["query_1", "query_2"])
def test_load_query_returns_the_canonical_file(name):
    text = load_query(name)

    assert text == (CANONICAL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    assert text.startswith("--"), "each query starts with a header comment"
    assert "SELECT" in text


@pytest.mark.parametrize("bad", ["query_3", "query_1.sql", "../sql/query_1", "", "QUERY_1"])
def test_load_query_rejects_unknown_names(bad):
    with pytest.raises(ValueError, match="unknown SQL query") as info:
        load_query(bad)

    assert "query_1" in str(info.value)
    assert "query_2" in str(info.value)


@pytest.mark.parametrize("name", ["query_1.sql", "query_2.sql"])
def test_top_level_sql_queries_are_relative_symlinks_to_the_package_files(name):
    link = TOP_LEVEL_DIR / name

    assert link.is_symlink()
    target = os.readlink(link)
    assert not os.path.isabs(target)
    assert link.resolve() == (CANONICAL_DIR / name).resolve()
    assert link.read_text(encoding="utf-8") == load_query(name.removesuffix(".sql"))


def test_sql_command_runs_a_query_on_a_duckdb_warehouse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import duckdb

    from datapipeline.cli import main

    path = tmp_path / "sales.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(_data_script())
    assert main(["sql", "query_2", "--warehouse", str(path), "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "client_id,ventes_meuble,ventes_deco"
    rows = {int(c): (Decimal(m), Decimal(d)) for c, m, d in (line.split(",") for line in lines[1:])}
    for client, meuble, deco in EXPECTED_QUERY_2:
        assert abs(rows[client][0] - meuble) <= TOLERANCE
        assert abs(rows[client][1] - deco) <= TOLERANCE


def test_sql_command_names_unknown_queries_and_missing_warehouses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datapipeline.cli import main

    assert main(["sql", "query_9", "--warehouse", str(tmp_path / "none.duckdb")]) == 2
    assert "query_9" in capsys.readouterr().err
    assert main(["sql", "query_1", "--warehouse", str(tmp_path / "none.duckdb")]) == 2
    assert "none.duckdb: warehouse file not found" in capsys.readouterr().err
