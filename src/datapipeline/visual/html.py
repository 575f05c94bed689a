"""The offline interactive page: one HTML file, its script, style and data inlined."""

from __future__ import annotations

import html
import re
from importlib import resources
from pathlib import Path
from typing import Any

from datapipeline.analysis import GraphDatabase, GraphView
from datapipeline.atomic import atomic_open
from datapipeline.visual.prepare import DEFAULT_MAX_NODES, prepare, script_json

ASSETS = "datapipeline.visual.assets"
DEFAULT_TITLE = "Drug mentions graph"
MARKERS = re.compile(r"__TITLE__|/\*__STYLE__\*/|/\*__SCRIPT__\*/|__DATA__")


def _asset(name: str) -> str:
    return resources.files(ASSETS).joinpath(name).read_text(encoding="utf-8")


def render_payload(payload: dict[str, Any], title: str = DEFAULT_TITLE) -> str:
    """The page for data already prepared by ``prepare``."""
    parts = {
        "__TITLE__": html.escape(title),
        "/*__STYLE__*/": _asset("style.css"),
        "/*__SCRIPT__*/": _asset("app.js"),
        "__DATA__": script_json(payload),
    }
    for marker in ("/*__STYLE__*/", "/*__SCRIPT__*/"):
        lowered = parts[marker].lower()
        if "</script" in lowered or "</style" in lowered or "<!--" in lowered:
            raise AssertionError(f"asset for {marker} must not hold a closing tag")
    template = _asset("template.html")
    missing = [m for m in parts if m not in template]
    if missing:
        raise AssertionError(f"template.html lacks {missing}")
    # one pass over the template: text put in never gets searched for markers again
    return MARKERS.sub(lambda m: parts[m.group(0)], template)


def render_html(
    view_or_graph_path: GraphDatabase | GraphView | Path | str,
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
    title: str = DEFAULT_TITLE,
) -> str:
    """One self-contained HTML page drawing the graph (no network access needed to view it)."""
    return render_payload(prepare(view_or_graph_path, max_nodes=max_nodes), title=title)


def write_html(
    path: Path | str,
    view_or_graph_path: GraphDatabase | GraphView | Path | str,
    *,
    max_nodes: int = DEFAULT_MAX_NODES,
    title: str = DEFAULT_TITLE,
) -> Path:
    """Write the page to ``path`` atomically; return the path."""
    target = Path(path)
    page = render_html(view_or_graph_path, max_nodes=max_nodes, title=title)
    with atomic_open(target) as handle:
        handle.write(page)
    return target
