"""DataPipeline: drugs and publications into a Parquet lake, a warehouse and one mention graph."""

from datapipeline.errors import DataPipelineError
from datapipeline.graph import Graph

__all__ = ["DataPipelineError", "Graph"]
__version__ = "0.1.0"
