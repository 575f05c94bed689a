"""The warehouse interface every backend implements, and the registry of backends by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

import pyarrow as pa

from datapipeline.config import Warehouse as WarehouseConfig
from datapipeline.errors import ConfigError
from datapipeline.lake import Lake, validate_name


class Warehouse(ABC):
    """A SQL warehouse the lake's tables are loaded into."""

    #: The backend's registered name.
    backend: str = ""

    @abstractmethod
    def load_table(self, name: str, lake: Lake, table: str) -> int:
        """Replace warehouse table ``name`` with lake table ``table``; returns its row count."""

    @abstractmethod
    def query(self, sql: str, params: dict[str, str] | None = None) -> pa.Table:
        """Run ``sql`` and return its result; ``params`` binds its ``$name`` parameters."""

    @abstractmethod
    def read_table(self, name: str) -> pa.Table:
        """The whole of warehouse table ``name``, in the order it was loaded when the backend
        keeps one (DuckDB), else ordered by provenance (file, row)."""

    def close(self) -> None:  # noqa: B027  (optional hook: backends without resources skip it)
        """Release connections and files."""

    def describe(self) -> str:
        """Where the warehouse is, for messages (``duckdb processed_data/warehouse.duckdb``)."""
        return self.backend

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


Factory = Callable[[WarehouseConfig], Warehouse]
_BACKENDS: dict[str, Factory] = {}


def register(name: str) -> Callable[[Factory], Factory]:
    """Register a backend factory under ``name`` (decorator)."""

    def decorator(factory: Factory) -> Factory:
        _BACKENDS[name] = factory
        return factory

    return decorator


def backends() -> list[str]:
    """The registered backend names, sorted."""
    return sorted(_BACKENDS)


def open_warehouse(config: WarehouseConfig) -> Warehouse:
    """Open the warehouse ``config`` describes; a clear error lists the known backends."""
    try:
        factory = _BACKENDS[config.backend]
    except KeyError:
        known = ", ".join(backends())
        raise ConfigError(
            f"warehouse.backend: unknown backend {config.backend!r}: expected one of {known}"
        ) from None
    return factory(config)


def load_lake(
    warehouse: Warehouse, lake: Lake, tables: Iterable[str] | None = None
) -> dict[str, int]:
    """Load ``tables`` (default: every table of the lake) into same-named warehouse tables."""
    names = list(tables) if tables is not None else lake.table_names()
    if not names:
        raise ConfigError(f"{lake.url}: no table to load (the lake is empty: run the import)")
    return {name: warehouse.load_table(validate_name(name, "table"), lake, name) for name in names}
