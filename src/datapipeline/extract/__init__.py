"""Extract stage: readers by source type, one registry (``get_reader``)."""

from datapipeline.extract import files as _files  # noqa: F401  (registers csv and json)
from datapipeline.extract.registry import get_reader, register, source_types

__all__ = ["get_reader", "register", "source_types"]
