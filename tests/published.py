"""The files a run publishes in its output folder, by their default names: what tests expect
to find there, stated apart from the code that writes them."""

PUBLISHED = (
    "graph.json",
    "graph_edges.parquet",
    "graph_nodes.parquet",
    "rejected_rows.jsonl",
    "run_report.json",
)
