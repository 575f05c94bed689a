"""Many small files: the main job against Polars reading the same files, in one invocation.

    python benchmarks/bench_small_files.py --files 3000 [--rounds 3]

Generates ``--files`` PubMed CSV files of one row each (plus a drug list and a trials file),
then, round after round, times as whole processes (start-up and imports included):

- ``glob``: Polars reading every one of those files by glob (``pl.read_csv("pubmed_*.csv")``),
  the yardstick of reading that many files;
- ``one_file``: ``datapipeline run`` on a folder holding one of them (with the drugs and
  trials): what a run costs whatever the number of files;
- ``full``: ``datapipeline run`` on every file, lake empty;
- ``noop``: the same run again, nothing changed;
- ``one_new``: the same run again after one new file.

Prints the medians and the acceptance ratios of issue 14 (full ≤ 5 × glob + one_file,
one_new ≤ 2 × one_file), the cost per file of the full run above a one-file run, and that cost
times a million files. Figures go to ``benchmarks/results/small_files_<n>_<time>.json``.
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
HEADER = "id,title,date,journal\n"


def generate(folder: Path, files: int) -> None:
    """``files`` one-row PubMed CSV files, a drug list and a trials file in ``folder``."""
    folder.mkdir(parents=True)
    (folder / "drugs.csv").write_text("atccode,drug\nA01,ETHANOL\nA02,ATROPINE\n")
    (folder / "clinical_trials.csv").write_text(
        "id,scientific_title,date,journal\nNCT1,Atropine trial,2020-01-01,J\n"
    )
    for i in range(files):
        (folder / f"pubmed_{i:07d}.csv").write_text(HEADER + f"{i},Ethanol {i},01/01/2020,J\n")


def timed(command: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``command`` run to its end (exit 0 expected)."""
    os.sync()
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        code = os.waitstatus_to_exitcode(status)  # negative: killed by that signal
        err = child.stderr.read().decode()  # type: ignore[union-attr]
        raise SystemExit(f"{' '.join(command)} failed (exit status {code}):\n{err}")
    return wall, usage.ru_utime + usage.ru_stime


def run_command(data: Path, lake: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "datapipeline.cli",
        "run",
        "--engine",
        "local",
        "--data-dir",
        str(data),
        "--lake",
        str(lake),
        "--output-dir",
        str(out),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    figures: dict[str, list[tuple[float, float]]] = {
        k: [] for k in ("glob", "one_file", "full", "noop", "one_new")
    }
    with tempfile.TemporaryDirectory(prefix="dp-small-") as temp:
        root = Path(temp)
        data, single = root / "data", root / "single"
        generate(data, args.files)
        single.mkdir()
        for name in ("drugs.csv", "clinical_trials.csv", "pubmed_0000000.csv"):
            shutil.copy(data / name, single / name)
        glob = [
            sys.executable,
            "-c",
            "import polars as pl, sys; "
            "pl.read_csv(sys.argv[1] + '/pubmed_*.csv', infer_schema=False)",
            str(data),
        ]
        for round_ in range(args.rounds):
            lake, out = root / "lake", root / "out"
            shutil.rmtree(lake, ignore_errors=True)
            shutil.rmtree(root / "lake1", ignore_errors=True)
            new = data / "pubmed_new.csv"
            new.unlink(missing_ok=True)
            figures["glob"].append(timed(glob))
            figures["one_file"].append(timed(run_command(single, root / "lake1", root / "out1")))
            figures["full"].append(timed(run_command(data, lake, out)))
            figures["noop"].append(timed(run_command(data, lake, out)))
            new.write_text(HEADER + "9999999,Atropine new,01/01/2020,J\n")
            figures["one_new"].append(timed(run_command(data, lake, out)))
            print(
                f"round {round_ + 1}: "
                + ", ".join(f"{k} {v[-1][0]:.2f} s" for k, v in figures.items()),
                flush=True,
            )
    wall = {k: statistics.median(w for w, _ in v) for k, v in figures.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in figures.items()}
    per_file = (wall["full"] - wall["one_file"]) / args.files
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "files": args.files,
        "rounds": args.rounds,
        "runs": figures,
        "wall_median": {k: round(v, 3) for k, v in wall.items()},
        "cpu_median": {k: round(v, 3) for k, v in cpu.items()},
        "full_over_5_glob_plus_one_file": round(
            wall["full"] / (5 * wall["glob"] + wall["one_file"]), 2
        ),
        "one_new_over_one_file": round(wall["one_new"] / wall["one_file"], 2),
        "seconds_per_file": round(per_file, 6),
        "a_million_files_seconds": round(per_file * 1e6 + wall["one_file"]),
    }
    for key in ("wall_median", "cpu_median"):
        print(f"{key}: {result[key]}")
    print(
        f"full / (5 × glob + one file) = {result['full_over_5_glob_plus_one_file']} (≤ 1 asked); "
        f"one new / one file = {result['one_new_over_one_file']} (≤ 2 asked)"
    )
    print(
        f"{per_file * 1000:.2f} ms per file above a one-file run: a million files "
        f"≈ {result['a_million_files_seconds'] / 60:.0f} min"
    )
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = result["when"].replace(":", "").replace("-", "")  # type: ignore[union-attr]
    out_file = args.results_dir / f"small_files_{args.files}_{stamp}.json"
    out_file.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {out_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
