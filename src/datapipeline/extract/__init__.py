"""Extract stage: readers by source type, one registry (``get_reader``)."""

from datapipeline.extract import ctgov as _ctgov  # noqa: F401  (registers ctgov_json)
from datapipeline.extract import database as _database  # noqa: F401  (postgres, mysql, …)
from datapipeline.extract import files as _files  # noqa: F401  (registers csv and json)
from datapipeline.extract import pubmed_xml as _pubmed_xml  # noqa: F401  (registers pubmed_xml)
from datapipeline.extract.registry import get_reader, register, source_types

__all__ = ["get_reader", "register", "source_types"]
