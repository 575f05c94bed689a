"""Benchmark of the ad-hoc questions against ``json.load`` of the same graph, in one invocation.

    python benchmarks/bench_questions.py --graph WORK/out/graph.json [--drug NAME] [--runs 3]
        [--address-space-gib 16] [--no-stream]

``--graph`` is a graph.json written by ``datapipeline run`` (its Parquet tables beside it:
``benchmarks/bench_main_job.py --work-dir WORK`` leaves one in ``WORK/out``). Each figure is
taken in a child process of its own, under an address-space limit (``--address-space-gib``,
as a machine with that much memory would be), so that one measure's memory does not count in
another's:

1. ``top-journals`` and ``related-drugs`` as the command line runs them (``main([...])``, the
   interpreter's start and the imports of the package outside the clock), on:
   - the graph's Parquet tables (graph.json given, the tables beside it read);
   - graph.json alone, streamed (a symbolic link to it in a folder without tables);
   - a tiny graph (the shipped sample data, run here), both ways: its figures are the fixed
     cost (imports of DuckDB and Polars, a connection), subtracted to give the marginal cost;
2. ``json.load`` of the same graph.json: its time and the memory it takes (the peak RSS
   above the interpreter's before it), or the ``MemoryError`` it ends in.

Prints the figures and the ratios the acceptance asks (marginal cost over ``json.load``, in
time and in memory) and writes them as JSON into ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from datapipeline import jobs
from datapipeline.mentions.parquet_graph import table_paths

HERE = Path(__file__).resolve().parent

#: The start of a child: the address-space limit, and the resident memory now.
_PRELUDE = """
import json, os, resource, sys, time
limit = int(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
"""

#: Run in a child: one command of the CLI, timed; prints seconds, peak RSS and RSS before.
_QUESTION = (
    _PRELUDE
    + """
from datapipeline.cli import main
import datapipeline.analysis, datapipeline.visual  # the package's own imports, off the clock
before = rss()
start = time.perf_counter()
code = main(sys.argv[2:])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"code": code, "seconds": seconds, "peak_mib": peak, "before_mib": before}))
"""
)

#: Run in a child: json.load of a file, timed; a MemoryError is a figure too.
_JSON_LOAD = (
    _PRELUDE
    + """
before = rss()
start = time.perf_counter()
error = None
try:
    with open(sys.argv[2], encoding="utf-8") as handle:
        document = json.load(handle)
except MemoryError:
    error = "MemoryError"
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_mib": peak, "before_mib": before, "error": error}))
"""
)


def _child(script: str, limit: int, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", script, str(limit), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"child failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, object] = json.loads(lines[-1])
    if result.get("code", 0) != 0:
        raise RuntimeError(f"command failed: {args}: {done.stderr[-2000:]}")
    return result


def _median(runs: list[dict[str, object]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)  # type: ignore[arg-type]


def _measure(command: list[str], limit: int, runs: int) -> dict[str, float]:
    results = [_child(_QUESTION, limit, *command) for _ in range(runs)]
    return {
        "seconds": round(_median(results, "seconds"), 4),
        "peak_mib": round(_median(results, "peak_mib"), 1),
        "seconds_runs": [round(float(r["seconds"]), 4) for r in results],  # type: ignore[arg-type]
    }


def _first_drug(graph_json: Path) -> str:
    nodes = pl.scan_parquet(table_paths(graph_json)["nodes"]).filter(pl.col("type") == "drug")
    return str(nodes.select(pl.col("name").first()).collect().item())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graph", type=Path, required=True, help="graph.json with its tables")
    parser.add_argument("--drug", default=None, help="drug of related-drugs (default: the first)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measure (median)")
    parser.add_argument("--address-space-gib", type=float, default=16.0)
    parser.add_argument("--no-stream", action="store_true", help="skip graph.json streamed")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    graph = args.graph.resolve()
    if not all(p.is_file() for p in table_paths(graph).values()):
        parser.error(f"{graph}: no Parquet tables beside it (run the job with this version)")
    limit = int(args.address_space_gib * 2**30)
    drug = args.drug or _first_drug(graph)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="dp-questions-") as temp:
        tiny = Path(temp) / "tiny" / "graph.json"
        jobs.run(jobs.SAMPLE_DATA_DIR, str(Path(temp) / "lake"), tiny.parent, engine="local")
        alone = {}
        for name, path in (("big", graph), ("tiny", tiny)):
            folder = Path(temp) / f"alone-{name}"
            folder.mkdir()
            (folder / "graph.json").symlink_to(path)
            alone[name] = folder / "graph.json"
        forms = {"tables": {"big": graph, "tiny": tiny}}
        if not args.no_stream:
            forms["json streamed"] = alone
        for form, paths in forms.items():
            for question in ("top-journals", "related-drugs"):
                for size, path in paths.items():
                    extra = (
                        [drug if size == "big" else "ASPIRIN"]
                        if question == "related-drugs"
                        else []
                    )
                    print(f"{question} on {size} graph ({form}) …", flush=True)
                    measure = _measure([question, str(path), *extra, "--json"], limit, args.runs)
                    figures.setdefault(form, {})[f"{question} {size}"] = measure
        print("json.load …", flush=True)
        loads = [_child(_JSON_LOAD, limit, str(graph)) for _ in range(args.runs)]
    load_error = next((r["error"] for r in loads if r["error"]), None)
    load_seconds = _median(loads, "seconds")
    load_memory = _median(loads, "peak_mib") - _median(loads, "before_mib")
    size_mib = graph.stat().st_size / 2**20
    summary: dict[str, dict[str, float]] = {}
    for form, measures in figures.items():
        for question in ("top-journals", "related-drugs"):
            big, small = measures[f"{question} big"], measures[f"{question} tiny"]
            seconds = big["seconds"] - small["seconds"]
            memory = big["peak_mib"] - small["peak_mib"]
            summary[f"{question} ({form})"] = {
                "marginal_seconds": round(seconds, 4),
                "marginal_mib": round(memory, 1),
                "time_vs_json_load": round(seconds / load_seconds, 4),
                "memory_vs_json_load": round(memory / load_memory, 4) if not load_error else None,  # type: ignore[dict-item]
                "memory_vs_file_size": round(memory / size_mib, 4),
            }
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "graph": {"path": str(graph), "bytes": graph.stat().st_size},
        "tables_bytes": {k: p.stat().st_size for k, p in table_paths(graph).items()},
        "drug": drug,
        "address_space_gib": args.address_space_gib,
        "runs": args.runs,
        "json_load": {
            "seconds": round(load_seconds, 3),
            "memory_mib": round(load_memory, 1),
            "error": load_error,
        },
        "questions": figures,
        "summary": summary,
    }
    print()
    error = f" ({load_error})" if load_error else ""
    print(
        f"json.load: {load_seconds:.2f} s, {load_memory:,.0f} MiB{error}; file {size_mib:,.0f} MiB"
    )
    for name, row in summary.items():
        print(
            f"{name:34} marginal {row['marginal_seconds']:8.3f} s {row['marginal_mib']:8.1f} MiB"
            f"  ×json.load: time {row['time_vs_json_load']:.3f}"
            + (
                f", memory {row['memory_vs_json_load']:.3f}"
                if row["memory_vs_json_load"] is not None
                else ""
            )
            + f"; memory ×file {row['memory_vs_file_size']:.3f}"
        )
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = result["when"].replace(":", "").replace("-", "")  # type: ignore[union-attr]
    out = args.results_dir / f"questions_{graph.stat().st_size}_{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results  : {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
