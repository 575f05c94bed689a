"""Pictures of the drug-mention graph: an offline interactive HTML page and a static PNG."""

from pathlib import Path
from typing import Any

from datapipeline.analysis import GraphDatabase, GraphView
from datapipeline.visual.html import render_html, render_payload, write_html
from datapipeline.visual.prepare import DEFAULT_MAX_NODES, prepare, script_json

__all__ = [
    "DEFAULT_MAX_NODES",
    "prepare",
    "render_html",
    "render_payload",
    "script_json",
    "write_html",
    "write_png",
]


def write_png(
    path: Path | str, view_or_graph_path: GraphDatabase | GraphView | Path | str, **options: Any
) -> Path:
    """See ``datapipeline.visual.png.write_png`` (imports matplotlib only when called)."""
    from datapipeline.visual.png import write_png as _write_png

    return _write_png(path, view_or_graph_path, **options)
