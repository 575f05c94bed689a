"""DataPipeline: drugs and publications into a Parquet lake, a warehouse and one mention graph."""

from typing import Any

from datapipeline.errors import DataPipelineError

__all__ = ["DataPipelineError", "Graph"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # The seed's Graph class, imported when first asked for: `datapipeline --help` and
    # `--version` need not load Polars.
    if name == "Graph":
        from datapipeline.graph import Graph

        return Graph
    raise AttributeError(f"module 'datapipeline' has no attribute {name!r}")
