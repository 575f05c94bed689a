"""Ad-hoc questions over the drug-mention graph, outside the pipeline.

:func:`open_graph` reads a graph (its Parquet tables, or graph.json streamed) into SQL tables
the shipped queries run on; :class:`GraphView` indexes a node-link document held in memory
(the seed's ``Graph`` class uses it).
"""

from datapipeline.analysis.graph_db import GraphDatabase, open_graph
from datapipeline.analysis.questions import (
    GraphView,
    drugs_of_journal,
    journals,
    load_graph,
    related_drugs,
    top_journals,
)

__all__ = [
    "GraphDatabase",
    "GraphView",
    "drugs_of_journal",
    "journals",
    "load_graph",
    "open_graph",
    "related_drugs",
    "top_journals",
]
