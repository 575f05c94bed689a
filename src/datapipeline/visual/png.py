"""A static picture of the graph for reports (matplotlib, the ``viz`` extra).

The layout is a small force-directed one computed with numpy from a fixed seed: the same
graph gives the same picture. It draws the view ``prepare`` makes, reduced to fewer nodes
than the page (a picture cannot show thousands of nodes legibly).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datapipeline.analysis import GraphDatabase, GraphView
from datapipeline.atomic import atomic_open
from datapipeline.errors import ConfigError
from datapipeline.extras import install_hint
from datapipeline.visual.prepare import prepare

if TYPE_CHECKING:
    import numpy as np

#: A picture keeps at most this many nodes by default.
DEFAULT_PNG_MAX_NODES = 1200
SEED = 20240501

COLORS = {
    "drug": "#4f46e5",
    "journal": "#d97706",
    "pubmed": "#0891b2",
    "clinical_trial": "#db2777",
}
TOP_COLOR = "#eab308"
LABELS = {
    "drug": "Drug",
    "journal": "Journal",
    "pubmed": "PubMed article",
    "clinical_trial": "Clinical trial",
}
PLURALS = {
    "drug": "drugs",
    "journal": "journals",
    "pubmed": "PubMed articles",
    "clinical_trial": "clinical trials",
}
MARKERS = {"drug": "o", "journal": "s", "pubmed": "o", "clinical_trial": "D"}


def _numpy_and_pyplot() -> tuple[Any, Any]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy
    except ImportError:
        raise ConfigError(
            f"--png needs matplotlib: install the viz extra: {install_hint('viz')}"
        ) from None
    return numpy, plt


def layout(payload: dict[str, Any], seed: int = SEED, iterations: int | None = None) -> np.ndarray:
    """Positions (n × 2) of the payload's nodes: seeded start, then force-directed steps."""
    np, _ = _numpy_and_pyplot()
    nodes, edges = payload["nodes"], payload["edges"]
    n = len(nodes)
    if n == 0:
        return np.zeros((0, 2))
    rng = np.random.default_rng(seed)
    kinds = np.array([node["kind"] for node in nodes])
    is_drug = kinds == "drug"
    charge = np.where(is_drug, 260.0, np.where(kinds == "journal", 150.0, 36.0))
    pos = np.zeros((n, 2))
    d = np.arange(int(is_drug.sum()))
    golden = np.pi * (3 - np.sqrt(5))
    pos[is_drug] = np.c_[np.cos(d * golden), np.sin(d * golden)] * (60 * np.sqrt(d + 0.5))[:, None]
    src = np.array([e[0] for e in edges], dtype=int)
    dst = np.array([e[1] for e in edges], dtype=int)
    # start every other node at the mean of its drugs, plus a seeded jitter
    sums = np.zeros((n, 2))
    cnt = np.zeros(n)
    if len(edges):
        np.add.at(sums, dst, pos[src])
        np.add.at(cnt, dst, 1)
    angle = rng.uniform(0, 2 * np.pi, n)
    radius = rng.uniform(20, 60, n)
    jitter = np.c_[np.cos(angle), np.sin(angle)] * radius[:, None]
    start = sums / np.maximum(cnt, 1)[:, None] + jitter
    pos[~is_drug] = start[~is_drug]
    degree = np.bincount(np.r_[src, dst], minlength=n).astype(float)
    ideal = np.where(kinds[dst] == "journal", 110.0, 42.0) if len(edges) else np.zeros(0)
    steps = iterations or (300 if n <= 400 else 150)
    alpha, decay = 1.0, 1 - 0.001 ** (1 / steps)
    vel = np.zeros((n, 2))
    for _ in range(steps):
        delta = pos[None, :, :] - pos[:, None, :]  # [i, j] = pos[j] - pos[i]
        dist2 = np.maximum((delta**2).sum(axis=2), 1.0)
        np.fill_diagonal(dist2, np.inf)
        vel -= alpha * (delta * (charge[None, :] / dist2)[:, :, None]).sum(axis=1)
        if len(edges):
            vec = pos[dst] - pos[src]
            length = np.maximum(np.sqrt((vec**2).sum(axis=1)), 1e-9)
            strength = alpha * 0.9 / np.minimum(degree[src], degree[dst])
            f = ((length - ideal) / length * strength)[:, None] * vec
            bias = (degree[src] / (degree[src] + degree[dst]))[:, None]
            np.add.at(vel, dst, -f * bias)
            np.add.at(vel, src, f * (1 - bias))
        vel -= pos * 0.012 * alpha
        vel *= 0.6
        pos += vel
        alpha *= 1 - decay
    return pos


def render_png(
    view_or_graph_path: GraphDatabase | GraphView | Path | str,
    *,
    max_nodes: int = DEFAULT_PNG_MAX_NODES,
    title: str = "Drug mentions graph",
    seed: int = SEED,
    width: float = 12.0,
    height: float | None = None,
    dpi: int = 150,
) -> bytes:
    """The picture as PNG bytes."""
    np, plt = _numpy_and_pyplot()
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    payload = prepare(view_or_graph_path, max_nodes=max_nodes)
    nodes, edges, meta = payload["nodes"], payload["edges"], payload["meta"]
    pos = layout(payload, seed=seed)
    if height is None:  # follow the drawing's shape, leaving room for the title and legend
        span = np.ptp(pos, axis=0) if len(pos) else np.ones(2)
        height = float(np.clip(width * span[1] / max(span[0], 1e-9) * 0.9 + 1.6, 5.0, 12.0))
    fig, ax = plt.subplots(figsize=(width, height), dpi=dpi)
    fig.patch.set_facecolor("white")
    ax.set_axis_off()
    ax.set_aspect("equal")
    if len(edges):
        edge_alpha = float(np.clip(400 / len(edges), 0.08, 0.45))
        segments = np.stack([pos[[e[0] for e in edges]], pos[[e[1] for e in edges]]], axis=1)
        ax.add_collection(
            LineCollection(segments, colors="#94a3b8", linewidths=0.6, alpha=edge_alpha)
        )
    kinds = np.array([n["kind"] for n in nodes]) if nodes else np.array([], dtype=str)
    mentions = np.array([n.get("pubmed", 0) + n.get("trials", 0) for n in nodes], dtype=float)
    drug_counts = np.array([n.get("drugs", 0) for n in nodes], dtype=float)
    # radii as on the page (relative to the largest), smaller when there are many nodes
    shrink = float(np.clip(np.sqrt(150 / max(len(nodes), 1)), 0.3, 1.0))
    sizes = shrink * np.where(
        kinds == "drug",
        6 + 10 * np.sqrt(mentions / max(mentions.max(initial=0), 1)),
        np.where(
            kinds == "journal",
            4 + 7 * np.sqrt(drug_counts / max(drug_counts.max(initial=0), 1)),
            3.2,
        ),
    )
    top = np.array([bool(n.get("top")) for n in nodes], dtype=bool)
    if top.any():
        ax.scatter(*pos[top].T, s=(sizes[top] * 1.9) ** 2, marker="s", c=TOP_COLOR, zorder=2)
    for layer, kind in enumerate(("pubmed", "clinical_trial", "journal", "drug")):
        mask = kinds == kind
        if mask.any():
            ax.scatter(
                *pos[mask].T,
                s=(sizes[mask] * 1.25) ** 2,
                marker=MARKERS[kind],
                c=COLORS[kind],
                edgecolors="white",
                linewidths=0.8,
                zorder=3 + layer,
            )
    drugs = [i for i, n in enumerate(nodes) if n["kind"] == "drug"]
    drugs.sort(key=lambda i: -(nodes[i].get("pubmed", 0) + nodes[i].get("trials", 0)))
    labelled = drugs[: 40 if len(drugs) <= 40 else 15] + [i for i in range(len(nodes)) if top[i]]
    for i in labelled:
        node = nodes[i]
        ax.annotate(
            node["label"] if len(node["label"]) <= 40 else node["label"][:38] + "…",
            pos[i],
            xytext=(7, 0),
            textcoords="offset points",
            va="center",
            fontsize=8 if node["kind"] == "drug" else 7.5,
            fontweight="bold" if node["kind"] == "drug" else "normal",
            color="#1e1b4b" if node["kind"] == "drug" else "#78350f",
            zorder=10,
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
        )
    if len(nodes):
        ax.update_datalim(pos)
        ax.autoscale_view()
        ax.margins(0.08)
    total = meta["total"]
    counts = ", ".join(f"{total.get(k, 0):,} {PLURALS[k]}" for k in LABELS)
    top_in = 1 - 0.95 / height
    fig.suptitle(
        title, x=0.02, y=1 - 0.2 / height, ha="left", va="top", fontsize=14, fontweight="bold"
    )
    subtitle = counts
    if meta["date_min"]:
        subtitle += f"  ·  {meta['date_min']} → {meta['date_max']}"
    reduced = meta["reduced"]
    if reduced:
        subtitle += (
            f"\nLarge graph: showing {reduced['shown_drugs']:,} drugs, "
            f"{reduced['shown_journals']:,} journals and a sample of "
            f"{reduced['shown_publications']:,} of {reduced['total_publications']:,} publications"
        )
    fig.text(0.02, 1 - 0.55 / height, subtitle, ha="left", va="top", fontsize=9, color="#4b5563")
    handles = [
        Line2D([], [], ls="", marker=MARKERS[k], color=COLORS[k], markersize=7, label=LABELS[k])
        for k in LABELS
    ]
    handles.append(
        Line2D([], [], ls="", marker="s", color=TOP_COLOR, markersize=8, label="Top journal")
    )
    ax.legend(handles=handles, loc="lower left", frameon=False, fontsize=8, ncol=5)
    fig.subplots_adjust(
        left=0.02, right=0.98, top=top_in - (0.2 / height if reduced else 0), bottom=0.02
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def write_png(
    path: Path | str, view_or_graph_path: GraphDatabase | GraphView | Path | str, **options: Any
) -> Path:
    """Write the picture to ``path`` atomically; return the path."""
    target = Path(path)
    data = render_png(view_or_graph_path, **options)
    with atomic_open(target, binary=True) as handle:
        handle.write(data)
    return target
