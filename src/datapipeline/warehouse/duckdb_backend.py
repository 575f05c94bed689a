"""The embedded warehouse: one DuckDB file (``processed_data/warehouse.duckdb`` by default)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from datapipeline.config import Warehouse as WarehouseConfig
from datapipeline.errors import WarehouseError
from datapipeline.lake import Lake, validate_name
from datapipeline.warehouse.base import Warehouse, register

DEFAULT_PATH = Path("processed_data") / "warehouse.duckdb"
_STAGED = "_datapipeline_staged"


def _quoted(name: str) -> str:
    return '"' + validate_name(name, "table").replace('"', '""') + '"'


def _to_arrow(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    convert = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return convert()


class DuckDBWarehouse(Warehouse):
    """Lake tables as DuckDB tables in one file; each load replaces a table in one statement."""

    backend = "duckdb"

    def __init__(self, path: str | Path = DEFAULT_PATH) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.IOException as exc:
            # Most often another process holds the file's lock: worth retrying later.
            error = WarehouseError(f"{self.path}: cannot open the DuckDB warehouse: {exc}")
            error.transient = "lock" in str(exc).lower()
            raise error from None
        except duckdb.Error as exc:
            raise WarehouseError(f"{self.path}: not a DuckDB warehouse file ({exc})") from None

    def describe(self) -> str:
        return f"duckdb {self.path}"

    def load_table(self, name: str, lake: Lake, table: str) -> int:
        target = _quoted(name)
        parts = lake.live_parts(table)
        if lake.is_gcs or any(ranges is not None for _, ranges in parts):
            # DuckDB's own gs:// support needs HMAC keys; pyarrow reads with the lake's
            # credentials (and only the live rows of a part a killed run left twice), and
            # DuckDB copies the Arrow table.
            self._con.register(_STAGED, lake.read_table(table))
            try:
                self._con.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {_STAGED}")
            finally:
                self._con.unregister(_STAGED)
        else:
            self._con.execute(
                f"CREATE OR REPLACE TABLE {target} AS "
                "SELECT * FROM read_parquet($files, union_by_name = true)",
                {"files": [path for path, _ in parts]},
            )
        return int(self._con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0])

    def query(self, sql: str, params: dict[str, str] | None = None) -> pa.Table:
        try:
            relation = self._con.sql(sql, params=params) if params else self._con.sql(sql)
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0]
            raise WarehouseError(f"{self.path}: query failed: {first}") from None
        if relation is None:  # a statement without a result (CREATE, INSERT…)
            return pa.table({})
        return _to_arrow(relation)

    def read_table(self, name: str) -> pa.Table:
        found = self._con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
            [validate_name(name, "table")],
        ).fetchall()[0][0]
        if not found:
            raise WarehouseError(
                f"{self.path}: table {name!r} not found in the warehouse (run datapipeline load)"
            )
        return _to_arrow(self._con.sql(f"SELECT * FROM {_quoted(name)}"))

    def close(self) -> None:
        self._con.close()


@register("duckdb")
def _open(config: WarehouseConfig) -> Warehouse:
    return DuckDBWarehouse(config.path or DEFAULT_PATH)
