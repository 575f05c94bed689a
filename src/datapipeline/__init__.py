"""DataPipeline: drugs and publications into a Parquet lake, a warehouse and one mention graph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datapipeline.errors import DataPipelineError

if TYPE_CHECKING:
    from datapipeline.graph import Graph

__all__ = ["DataPipelineError", "Graph"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Graph (and Polars, Arrow with it) is imported when first asked for: the command sets
    # its native libraries up before they load (datapipeline.launcher)
    if name == "Graph":
        from datapipeline.graph import Graph

        return Graph
    raise AttributeError(f"module 'datapipeline' has no attribute {name!r}")
