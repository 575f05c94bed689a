"""Benchmark of the main job against the naive matcher, in one invocation.

    python benchmarks/bench_main_job.py --titles 1000000 --drugs 10000 [--files 1]
        [--engine local|stream] [--chunk-titles N]

1. generates a synthetic ``--data-dir`` (``benchmarks/generate.py``, in a child process so the
   generator's memory does not count in this process's peak RSS) into a temporary folder;
2. times ``datapipeline.jobs.run(..., engine=--engine)`` end to end (import → lake → clean →
   match → graph.json, its own fsync included) and each of its steps; ``--engine stream`` is
   the part-by-part job in bounded memory, for corpora at PubMed scale (36M titles over many
   files). Before the clock starts, the lake and outputs of an earlier run are deleted and
   ``os.sync()`` flushes what the kernel still has to write: the corpus just generated, the
   deletion. That write-back is not the job's, and left running it cost the job 0.2–0.3 s of
   its 2.5–2.8 s at 1M titles (measured 2026-12-04);
3. times the naive approach on a sample of the same titles (drawn from the first rows of each
   source, so a corpus of any size is not read whole) with every drug name: for each title,
   for each name, ``name in title`` on lower-cased strings (lower-casing hoisted out of the inner
   loop), the "every drug as a substring of every title" baseline;
4. prints titles/s for both, their ratio, the peak RSS and the time per step, and writes the
   figures as JSON into ``benchmarks/results/``.

Both rates come from the same process on the same machine at the same time, so the ratio holds
even when other work shares the CPU; absolute rates do not.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from datapipeline import jobs

HERE = Path(__file__).resolve().parent


def _rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def naive_rate(titles: list[str], names: list[str]) -> tuple[float, int, float]:
    """Titles per second of the naive matcher; also the hits found and the seconds taken."""
    lowered_names = [n.lower() for n in names]
    start = time.perf_counter()
    hits = 0
    for title in titles:
        lowered = title.lower()
        for name in lowered_names:
            if name in lowered:
                hits += 1
    seconds = time.perf_counter() - start
    return len(titles) / seconds, hits, seconds


def _inputs_for_naive(data_dir: Path, sample: int, seed: int) -> tuple[list[str], list[str]]:
    """A seeded sample of the generated titles (every CSV source) and every drug name.

    The sample is drawn from the first ``100 × sample`` rows of each source, not from the whole
    corpus: the generator shuffles the rows of each file, titles follow one distribution, and
    a 36M-title corpus is not read into memory to pick a few thousand titles."""
    pool = 100 * sample
    titles = (
        pl.concat(
            [
                pl.scan_csv(data_dir / "pubmed*.csv", infer_schema=False)
                .select("title")
                .head(pool),
                pl.scan_csv(data_dir / "clinical_trials*.csv", infer_schema=False)
                .select(pl.col("scientific_title").alias("title"))
                .head(pool),
            ]
        )
        .collect()
        .drop_nulls()
    )
    names = pl.read_csv(data_dir / "drugs*.csv", infer_schema=False).get_column("drug")
    picked = titles.sample(min(sample, titles.height), seed=seed).get_column("title")
    return picked.to_list(), names.drop_nulls().to_list()


def _pubmed_in_one_csv(data_dir: Path) -> int:
    """Append the records of the PubMed JSON files to the (one) PubMed CSV, delete the JSON;
    returns the CSV's rows. A corpus kept with --work-dir is changed in place."""
    (csv,) = sorted(data_dir.glob("pubmed*.csv"))
    frames = [pl.read_csv(csv, infer_schema=False)]
    for path in sorted(data_dir.glob("pubmed*.json")):
        # the generator leaves a trailing comma before the closing bracket (a defect the
        # job repairs); Polars' reader refuses it
        text = re.sub(rb",\s*\]\s*$", b"]", path.read_bytes())
        frames.append(pl.read_json(io.BytesIO(text), infer_schema_length=None).cast(pl.String))
        path.unlink()
    merged = pl.concat([f.select("id", "title", "date", "journal") for f in frames])
    merged.write_csv(csv)
    return merged.height


def _reusable(data_dir: Path, args: argparse.Namespace) -> bool:
    """Whether ``data_dir`` already holds the corpus these arguments generate (``--work-dir``
    of an earlier run): its manifest names the same titles, drugs, files and seed."""
    path = data_dir / "manifest.json"
    if not path.exists():
        return False
    manifest = json.loads(path.read_text())
    wanted = {
        "titles": args.titles,
        "drugs": args.drugs,
        "files_per_source": args.files,
        "seed": args.seed,
        "mention_rate": args.mention_rate,
    }
    return all(manifest.get(key) == value for key, value in wanted.items())


def _generate(data_dir: Path, args: argparse.Namespace, chunking: list[str]) -> None:
    # A child process: the generator's memory does not count in this process's peak RSS.
    subprocess.run(
        [
            sys.executable,
            str(HERE / "generate.py"),
            str(data_dir),
            f"--titles={args.titles}",
            f"--drugs={args.drugs}",
            f"--files={args.files}",
            f"--mention-rate={args.mention_rate}",
            f"--seed={args.seed}",
            *chunking,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--titles", type=int, default=1_000_000)
    parser.add_argument("--drugs", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=1, help="files per source")
    parser.add_argument("--mention-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--engine",
        choices=("local", "stream"),
        default="local",
        help="engine of the main job: local (default) or stream (part by part, bounded memory)",
    )
    parser.add_argument(
        "--chunk-titles",
        type=int,
        default=None,
        help="titles the generator draws at once (default: generate.py's)",
    )
    parser.add_argument("--naive-sample", type=int, default=2_000, help="titles for the naive run")
    parser.add_argument(
        "--pubmed-one-file",
        action="store_true",
        help="move the PubMed JSON records into pubmed.csv: one large file (is it cut?)",
    )
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep inputs/outputs here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="dp-bench-") as temp:
        work = args.work_dir or Path(temp)
        data_dir = work / "data"
        chunking = [] if args.chunk_titles is None else [f"--chunk-titles={args.chunk_titles}"]
        start = time.perf_counter()
        if _reusable(data_dir, args):
            print(f"reusing the corpus in {data_dir} (same titles, drugs, files and seed)")
        else:
            print(f"generating {args.titles:,} titles, {args.drugs:,} drugs into {data_dir} …")
            _generate(data_dir, args, chunking)
        generate_seconds = time.perf_counter() - start
        # the job runs in full: nothing from an earlier run in the same folder
        shutil.rmtree(work / "lake", ignore_errors=True)
        shutil.rmtree(work / "out", ignore_errors=True)
        # the write-back of the corpus and of earlier runs' files is not the job's (see above)
        os.sync()
        manifest = json.loads((data_dir / "manifest.json").read_text())
        input_rows = sum(v for k, v in manifest["rows"].items() if k != "drugs")
        input_files = {kind: len(names) for kind, names in manifest["files"].items()}

        if args.pubmed_one_file:
            rows = _pubmed_in_one_csv(data_dir)
            print(f"pubmed rows moved into one pubmed.csv: {rows:,}")
            os.sync()
        print(f"running the main job (engine {args.engine}) …")
        rss_before = _current_rss_mib()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        report = jobs.run(data_dir, str(work / "lake"), work / "out", engine=args.engine)
        job_seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        job_cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
        peak_rss = _rss_mib()
        steps = dict(report.seconds)
        job_rate = args.titles / job_seconds

        print(f"running the naive matcher on {args.naive_sample:,} titles …")
        sample, names = _inputs_for_naive(data_dir, args.naive_sample, args.seed)
        naive, naive_hits, naive_seconds = naive_rate(sample, names)

    ratio = job_rate / naive
    result = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "polars": pl.__version__,
        },
        "parameters": {
            "titles": args.titles,
            "drugs": args.drugs,
            "files_per_source": args.files,
            "engine": args.engine,
            "chunk_titles": args.chunk_titles,
            "pubmed_one_file": args.pubmed_one_file,
            "mention_rate": args.mention_rate,
            "seed": args.seed,
            "naive_sample": len(sample),
        },
        "input_rows": input_rows,
        "input_files": input_files,
        "generate_seconds": round(generate_seconds, 3),
        "main_job": {
            "seconds": round(job_seconds, 3),
            "titles_per_second": round(job_rate),
            "steps_seconds": {k: round(v, 3) for k, v in steps.items()},
            "cpu_seconds": round(job_cpu, 3),
            "cpu_over_wall": round(job_cpu / job_seconds, 2),
            "peak_rss_mib": round(peak_rss),
            "rss_before_mib": round(rss_before),
            "graph": {k: v for k, v in report.graph.items() if k != "drugs_without_mentions"},
        },
        "naive": {
            "seconds": round(naive_seconds, 3),
            "titles_per_second": round(naive, 1),
            "substring_hits": naive_hits,
        },
        "ratio": round(ratio, 1),
    }
    print()
    files = ", ".join(f"{k} {v}" for k, v in input_files.items())
    print(
        f"main job : {job_rate:>12,.0f} titles/s  ({args.titles:,} titles in {job_seconds:.2f} s,"
        f" engine {args.engine}; files: {files})"
    )
    print(f"naive    : {naive:>12,.1f} titles/s  ({len(sample):,} titles × {len(names):,} names)")
    print(f"ratio    : {ratio:>12,.0f}×")
    print(f"peak RSS : {peak_rss:>12,.0f} MiB (before the job: {rss_before:,.0f} MiB)")
    print(f"CPU      : {job_cpu:>12,.2f} s ({job_cpu / job_seconds:.2f} cores busy on average)")
    print("per step : " + ", ".join(f"{k} {v:.2f}s" for k, v in steps.items()))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = result["when"].replace(":", "").replace("-", "")  # type: ignore[union-attr]
    out = args.results_dir / f"main_job_{args.titles}x{args.drugs}_{args.engine}_{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results  : {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
