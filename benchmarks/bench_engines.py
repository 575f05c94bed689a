"""The engines against each other on one corpus, in one invocation: wall time, CPU, peak memory.

    python benchmarks/bench_engines.py DATA_DIR [--rounds 3] [--engines local beam beam2]

Each run is a whole ``datapipeline run --engine E`` process (start-up and imports included,
lake and outputs fresh), the engines taking turns round after round, so that a machine whose
speed drifts slows them alike; each engine's time is divided by the local engine's of the same
round. ``beam2`` is the Beam engine on the DirectRunner with two SDK worker processes
(``--direct_running_mode=multi_processing --direct_num_workers=2``): its peak memory is the
driver's (the workers are other processes). Every engine's outputs are compared byte for byte
with the local engine's. Figures go to ``benchmarks/results/engines_<corpus>_<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUTS = ("graph.json", "graph_nodes.parquet", "graph_edges.parquet", "rejected_rows.jsonl")
ENGINES = {
    "local": ["--engine", "local"],
    "stream": ["--engine", "stream"],
    "beam": ["--engine", "beam"],
    "beam2": [
        "--engine",
        "beam",
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ],
}


def run_once(engine: str, data: Path, work: Path) -> dict[str, float]:
    """One whole run of ``engine``: wall seconds, CPU seconds and peak RSS (MiB) of the
    process, from the operating system's accounting of the finished child."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    command = [
        sys.executable,
        "-m",
        "datapipeline.cli",
        "run",
        "--data-dir",
        str(data),
        "--lake",
        str(work / "lake"),
        "--output-dir",
        str(work / "out"),
        *ENGINES[engine],
    ]
    os.sync()  # the previous run's deleted files are not this run's write-back
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    errors = child.stderr.read().decode() if child.stderr else ""
    if status != 0:
        raise SystemExit(f"{engine} failed:\n{errors}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", nargs="+", default=["local", "beam", "beam2"])
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    engines = ["local", *[e for e in args.engines if e != "local"]]
    runs: dict[str, list[dict[str, float]]] = {e: [] for e in engines}
    same: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="dp-engines-") as temp:
        for round_ in range(args.rounds):
            for engine in engines:
                work = Path(temp) / engine
                figures = run_once(engine, args.data_dir, work)
                runs[engine].append(figures)
                print(
                    f"round {round_ + 1} {engine:<7} {figures['wall']:7.2f} s wall "
                    f"{figures['cpu']:7.2f} s cpu {figures['peak_mib']:7.0f} MiB",
                    flush=True,
                )
            for engine in engines[1:]:
                same[engine] = all(
                    (Path(temp) / engine / "out" / name).read_bytes()
                    == (Path(temp) / "local" / "out" / name).read_bytes()
                    for name in OUTPUTS
                )
    summary = {}
    for engine in engines:
        ratios = [
            r["wall"] / base["wall"] for r, base in zip(runs[engine], runs["local"], strict=True)
        ]
        summary[engine] = {
            "wall_median": round(statistics.median(r["wall"] for r in runs[engine]), 3),
            "cpu_median": round(statistics.median(r["cpu"] for r in runs[engine]), 3),
            "peak_mib_max": round(max(r["peak_mib"] for r in runs[engine])),
            "ratio_to_local": [round(r, 2) for r in ratios],
            "same_bytes_as_local": same.get(engine, True),
        }
        print(
            f"{engine:<7} median {summary[engine]['wall_median']:.2f} s, "
            f"× local per round {summary[engine]['ratio_to_local']}, "
            f"same bytes: {summary[engine]['same_bytes_as_local']}"
        )
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "data_dir": str(args.data_dir),
        "rounds": args.rounds,
        "runs": runs,
        "summary": summary,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = result["when"].replace(":", "").replace("-", "")  # type: ignore[union-attr]
    out = args.results_dir / f"engines_{args.data_dir.name}_{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
