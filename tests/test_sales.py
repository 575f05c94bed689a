"""The shipped sales sample: imported, loaded and queried by the documented commands.

The sample is src/datapipeline/sample_data/sales/. Expected results, worked out by hand from
its rows (date, order_id, client_id, prod_id, prod_price, prod_qty; products 490756 and 549380
are MEUBLE, 389728 and 293718 DECO):

query_1 (revenue per day of 2019; the 2018-12-31 and 2020/2021 rows are outside):
  2019-01-01: 50×1 + 3.56×4 + 300×1 + 10×2 = 50 + 14.24 + 300 + 20 = 384.24
  2019-06-15: 10×3 = 30.00
  2019-12-31: 45.5×2 = 91.00
query_2 (per client in 2020: furniture, decoration):
  120: MEUBLE none = 0, DECO 9.99×3 = 29.97
  777: MEUBLE 250×1 = 250.00, DECO none = 0
  845: MEUBLE 280×1 = 280.00, DECO 10×5 = 50.00
  999: MEUBLE 50×2 = 100.00, DECO 3.56×1 = 3.56
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from datapipeline.cli import main
from datapipeline.config import CONFIG_DIR_ENV
from datapipeline.errors import InputError
from datapipeline.sales import typed_batches
from datapipeline.schema import SOURCE_FILE, SOURCE_ROW

REPO = Path(__file__).resolve().parents[1]

EXPECTED_QUERY_1 = [
    ("2019-01-01", Decimal("384.24")),
    ("2019-06-15", Decimal("30.00")),
    ("2019-12-31", Decimal("91.00")),
]
EXPECTED_QUERY_2 = [
    ("120", Decimal("0"), Decimal("29.97")),
    ("777", Decimal("250.00"), Decimal("0")),
    ("845", Decimal("280.00"), Decimal("50.00")),
    ("999", Decimal("100.00"), Decimal("3.56")),
]


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_documented_commands_import_load_and_query_the_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """README, "SQL queries": import config/sales_to_import.yaml, load, then sql."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CONFIG_DIR_ENV, str(REPO / "config"))
    assert main(["import", "--config_file", "sales_to_import.yaml"]) == 0
    assert main(["load"]) == 0
    capsys.readouterr()
    assert main(["sql", "query_1", "--csv"]) == 0
    header, *rows = _rows(capsys.readouterr().out)
    assert header == ["date", "ventes"]
    assert [(day, Decimal(v)) for day, v in rows] == EXPECTED_QUERY_1
    assert main(["sql", "query_2", "--csv"]) == 0
    header, *rows = _rows(capsys.readouterr().out)
    assert header == ["client_id", "ventes_meuble", "ventes_deco"]
    assert [(c, Decimal(m), Decimal(d)) for c, m, d in rows] == EXPECTED_QUERY_2


def test_sql_on_a_missing_warehouse_is_one_line_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(CONFIG_DIR_ENV, raising=False)
    assert main(["sql", "query_1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: processed_data/warehouse.duckdb: warehouse file not found (import and load the "
        "sales tables first: datapipeline import --config_file config/sales_to_import.yaml, "
        "then datapipeline load)"
    ]
    assert list(tmp_path.iterdir()) == []


def _batch(**columns: list[str | None]) -> pa.RecordBatch:
    rows = len(next(iter(columns.values())))
    return pa.RecordBatch.from_pydict(
        {
            SOURCE_ROW: list(range(1, rows + 1)),
            **columns,
            SOURCE_FILE: ["t.csv"] * rows,
        }
    )


def test_sales_columns_are_typed_whatever_their_case_and_extra_columns_dropped() -> None:
    batch = _batch(
        DATE=["2019-01-01", " 2020-02-29 "],
        order_id=["1", "2"],
        client_id=["3", "4"],
        prod_id=["5", "6"],
        prod_price=["3.5", "10"],
        prod_qty=["2", ""],
        note=["x", "y"],
    )
    (typed,) = typed_batches(iter([batch]), "transactions", "t.csv")
    assert typed.schema.names == [
        "date",
        "order_id",
        "client_id",
        "prod_id",
        "prod_price",
        "prod_qty",
        SOURCE_FILE,
        SOURCE_ROW,
    ]
    assert typed.column("prod_price").to_pylist() == [Decimal("3.50"), Decimal("10.00")]
    assert [str(d) for d in typed.column("date").to_pylist()] == ["2019-01-01", "2020-02-29"]
    assert typed.column("prod_qty").to_pylist() == [2, None]  # an empty cell is null


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("prod_price", "1.234", "a number with at most 2 decimals"),
        ("date", "01/01/19", "a date YYYY-MM-DD"),
        ("prod_qty", "two", "an integer"),
    ],
)
def test_a_sales_value_that_does_not_convert_names_file_row_and_column(
    column: str, value: str, expected: str
) -> None:
    good = {
        "date": "2019-01-01",
        "order_id": "1",
        "client_id": "2",
        "prod_id": "3",
        "prod_price": "1.5",
        "prod_qty": "1",
    }
    batch = _batch(**{k: [v, value if k == column else v] for k, v in good.items()})
    with pytest.raises(InputError) as error:
        list(typed_batches(iter([batch]), "transactions", "t.csv"))
    assert str(error.value) == f"t.csv: row 2: column {column!r}: {value!r} is not {expected}"


def test_a_missing_sales_column_is_named() -> None:
    batch = _batch(product_id=["1"], product_name=["Mug"])
    with pytest.raises(InputError) as error:
        list(typed_batches(iter([batch]), "product_nomenclature", "p.csv"))
    assert str(error.value) == (
        "p.csv: missing column 'product_type' for product_nomenclature; found columns: "
        "product_id, product_name"
    )
