"""Warehouse stage: lake tables loaded into a SQL warehouse, behind one small interface.

Backends are registered by name, like the readers: ``duckdb`` (embedded, one file, the
default) and ``bigquery`` (production: load jobs from the lake's Parquet on GCS). Either way a
table is replaced whole on each load, so loading twice gives the same tables.
"""

from __future__ import annotations

# Registers the backends (DuckDB always; BigQuery imports its client only when opened).
from datapipeline.warehouse import bigquery_backend as _bigquery  # noqa: F401
from datapipeline.warehouse import duckdb_backend as _duckdb  # noqa: F401
from datapipeline.warehouse.base import (
    Factory,
    Warehouse,
    backends,
    load_lake,
    open_warehouse,
    register,
)

__all__ = ["Factory", "Warehouse", "backends", "load_lake", "open_warehouse", "register"]
