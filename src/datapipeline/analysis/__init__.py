"""Ad-hoc questions answered from ``graph.json`` alone (outside the pipeline)."""

from datapipeline.analysis.questions import (
    GraphView,
    drugs_of_journal,
    journals,
    load_graph,
    related_drugs,
    top_journals,
)

__all__ = [
    "GraphView",
    "drugs_of_journal",
    "journals",
    "load_graph",
    "related_drugs",
    "top_journals",
]
