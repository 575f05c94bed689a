"""The ``datapipeline`` command: it parses arguments, then calls the package."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from pydantic import ValidationError

from datapipeline import jobs
from datapipeline.config import (
    DEFAULT_CONFIG_DIR,
    DagConfig,
    Environment,
    ImportConfig,
    ProcessConfig,
    Source,
    load_file,
)
from datapipeline.errors import ConfigError, DataPipelineError
from datapipeline.lake import Lake
from datapipeline.progress import TerminalProgress
from datapipeline.security import RedactingFilter, redact

log = logging.getLogger("datapipeline")

EPILOG_MAIN = """examples:
  datapipeline run                              # sample data → processed_data/graph.json
  datapipeline run --data-dir ./data --output-dir ./out
  datapipeline run --engine beam --runner DirectRunner --direct_num_workers=2
  datapipeline import --config_file config/file_to_import.yaml
  datapipeline process --input_folder imported_data --output_folder processed_data
  datapipeline import --bucket_name my-bucket --output_folder imported_data   # gs:// lake
  datapipeline load --env prod                  # lake tables → the env's warehouse
  datapipeline process --from warehouse         # graph from the warehouse's tables
  datapipeline sql query_1                      # revenue per day in 2019, on the warehouse
  datapipeline top-journals processed_data/graph.json
  datapipeline related-drugs processed_data/graph.json ETHANOL --json
  datapipeline show processed_data/graph.json --output graph.html --png graph.png

Run `datapipeline COMMAND --help` for the options and examples of each command.
"""

EPILOG_RUN = """examples:
  datapipeline run
      the shipped sample data → imported_data/ (lake) and processed_data/graph.json
  datapipeline run --data-dir ./data --output-dir ./out --lake ./lake
      import ./data/drugs*.csv, pubmed*.csv, pubmed*.json, clinical_trials*.csv
  datapipeline run --lake gs://my-bucket/imported_data --env prod
      the lake in Cloud Storage, other defaults from config/dag_config.yaml (prod)

outputs: graph.json (the drug-mention graph), run_report.json, rejected_rows.jsonl
"""

EPILOG_IMPORT = """examples:
  datapipeline import
      every source of config/file_to_import.yaml → imported_data/
  datapipeline import --config_file config/file_to_import.yaml --source_id pubmed_json
      only one source of the config
  datapipeline import --source data/pubmed.csv --source_type csv --dest_table pubmed
      one file, no config
  datapipeline import --bucket_name my-bucket --output_folder imported_data
      write the lake to gs://my-bucket/imported_data
"""

EPILOG_PROCESS = """examples:
  datapipeline process
      imported_data/ → processed_data/graph.json (config/file_to_process.yaml if present)
  datapipeline process --input_folder imported_data --output_folder processed_data
  datapipeline process --input_folder gs://my-bucket/imported_data --output_folder out
"""

EPILOG_LOAD = """examples:
  datapipeline load
      every table of imported_data/ → processed_data/warehouse.duckdb
  datapipeline load --tables drugs pubmed
  datapipeline load --env prod
      gs:// lake → BigQuery load jobs (WRITE_TRUNCATE), as config/dag_config.yaml says
"""

EPILOG_SQL = """examples:
  datapipeline sql query_1
      revenue per day in 2019 (date, ventes), on the dv warehouse (processed_data/warehouse.duckdb)
  datapipeline sql query_2 --env prod
      sales of furniture and decoration per client in 2020, on BigQuery
  datapipeline sql query_1 --warehouse sales.duckdb --csv
      on another DuckDB file, as CSV
"""

GRAPH_HELP = (
    "graph.json written by run or process (its Parquet tables beside it are read when "
    "present), or a folder holding the graph's tables"
)

EPILOG_TOP = """examples:
  datapipeline top-journals processed_data/graph.json
      one line per journal: NAME<TAB>COUNT (every journal tied for first)
  datapipeline top-journals processed_data/graph.json --json
      {"count": 3, "journals": ["Journal of emergency nursing"]}
"""

EPILOG_RELATED = """examples:
  datapipeline related-drugs processed_data/graph.json TETRACYCLINE
  datapipeline related-drugs processed_data/graph.json ethanol --json
      {"drug": "ETHANOL", "related": ["..."]}
"""

EPILOG_SHOW = """examples:
  datapipeline show processed_data/graph.json
      writes processed_data/graph.html next to the graph; open it in any browser (offline)
  datapipeline show processed_data/graph.json --output report/graph.html --png report/graph.png
      the page and a static picture for reports (the picture needs the viz extra:
      pip install 'datapipeline[viz]')
  datapipeline show big_graph.json --max-nodes 5000
      draw more nodes before sampling publications

The page: search a drug or journal, click a node for its details, filter by kind and by date
range; the journals mentioning the most distinct drugs are marked as top journals. Past
--max-nodes nodes it keeps every drug and journal and a sample of the publications, and says so.
"""


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="log details; show tracebacks")
    parser.add_argument(
        "--env", default=None, help="environment of config/dag_config.yaml (dv, prod…)"
    )


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs: object) -> None:
    """Accept the seed's underscore spelling and the dashed one."""
    spellings = [f"--{name}"]
    if "_" in name:
        spellings.append(f"--{name.replace('_', '-')}")
    parser.add_argument(*spellings, dest=name, **kwargs)  # type: ignore[arg-type]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="datapipeline",
        description="Import drugs and publications into a Parquet lake and build the graph "
        "of which drugs each publication and journal mentions, and when.",
        epilog=EPILOG_MAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="import every source, then build the graph (the main job)",
        description="Import drugs*.csv, pubmed*.csv, pubmed*.json and clinical_trials*.csv from "
        "DATA_DIR into the lake, then write graph.json, run_report.json and rejected_rows.jsonl.",
        epilog=EPILOG_RUN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="input folder (default: the shipped sample data)",
    )
    run.add_argument(
        "--output-dir", type=Path, default=None, help="output folder (default: processed_data)"
    )
    run.add_argument(
        "--lake", default=None, help="lake folder or gs:// URL (default: imported_data)"
    )
    run.add_argument(
        "--engine",
        choices=jobs.ENGINES,
        default="auto",
        help="auto (default: local, or stream when the input files are large for this "
        "machine's memory), local (in memory; reruns match only new titles), stream (the "
        "lake processed part by part, in bounded memory) or beam (Apache Beam pipeline; any "
        "argument not listed here is passed to Beam as a pipeline option)",
    )
    run.add_argument(
        "--runner",
        default=None,
        help="Beam runner with --engine beam: DirectRunner (default), DataflowRunner…",
    )
    run.add_argument(
        "--full-refresh",
        action="store_true",
        help="re-import every file and re-match every title (default: only what changed)",
    )
    _add_common(run)

    imp = sub.add_parser(
        "import",
        help="the import job: sources → Parquet lake",
        description="Import the sources of a config file (or one source given by flags) "
        "into the lake.",
        epilog=EPILOG_IMPORT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _flag(
        imp,
        "config_file",
        type=Path,
        default=DEFAULT_CONFIG_DIR / "file_to_import.yaml",
        help="sources config",
    )
    _flag(
        imp,
        "source_type",
        help="reader: csv, json, pubmed_xml, ctgov_json, postgres, mysql, mssql, oracle",
    )
    _flag(imp, "source_id", help="import only this source of the config (or name the --source)")
    _flag(
        imp,
        "source",
        help="path, table or SELECT query of one source to import (with --source_type and "
        "--dest_table; a --source_id of the config lends its connection options)",
    )
    _flag(imp, "dest_table", help="lake table of --source")
    _flag(imp, "bucket_name", help="write the lake to gs://BUCKET/OUTPUT_FOLDER")
    _flag(imp, "output_folder", default=None, help="lake folder (default: imported_data)")
    _flag(
        imp,
        "full_reload",
        action="store_true",
        help="incremental sources: forget the stored watermark and read everything again",
    )
    _add_common(imp)

    proc = sub.add_parser(
        "process",
        help="the process job: lake → graph.json",
        description="Clean, merge and match the lake tables; write graph.json and its report.",
        epilog=EPILOG_PROCESS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _flag(
        proc,
        "config_file",
        type=Path,
        default=DEFAULT_CONFIG_DIR / "file_to_process.yaml",
        help="process config",
    )
    _flag(
        proc, "input_folder", default=None, help="lake folder or gs:// URL (default: imported_data)"
    )
    _flag(
        proc,
        "output_folder",
        type=Path,
        default=None,
        help="output folder (default: processed_data)",
    )
    proc.add_argument(
        "--from",
        dest="read_from",
        choices=("lake", "warehouse"),
        default="lake",
        help="read the input tables from the lake (default) or from the environment's warehouse",
    )
    _add_common(proc)

    load = sub.add_parser(
        "load",
        help="load the lake's tables into the warehouse (DuckDB or BigQuery)",
        description="Replace each warehouse table with the lake table of the same name: "
        "DuckDB (one file, the default) or BigQuery (load jobs from a gs:// lake), as the "
        "environment's warehouse section of config/dag_config.yaml says.",
        epilog=EPILOG_LOAD,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load.add_argument(
        "--lake", default=None, help="lake folder or gs:// URL (default: the environment's)"
    )
    load.add_argument(
        "--tables", nargs="+", default=None, help="tables to load (default: all of the lake's)"
    )
    _add_common(load)

    sql = sub.add_parser(
        "sql",
        help="run one of the two sales queries on the warehouse",
        description="Run sql_queries/NAME.sql on the environment's warehouse (TRANSACTIONS and "
        "PRODUCT_NOMENCLATURE tables) and print the result as a table.",
        epilog=EPILOG_SQL,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sql.add_argument("name", help="query_1 or query_2")
    sql.add_argument("--warehouse", type=Path, default=None, help="a DuckDB file to query instead")
    sql.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    _add_common(sql)

    top = sub.add_parser(
        "top-journals",
        help="the journal(s) mentioning the most distinct drugs",
        description="Read GRAPH and print the journal(s) that mention the most distinct "
        "drugs (all ties).",
        epilog=EPILOG_TOP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("graph", type=Path, help=GRAPH_HELP)
    top.add_argument("--json", action="store_true", help='print {"count": N, "journals": [...]}')
    _add_common(top)

    rel = sub.add_parser(
        "related-drugs",
        help="drugs mentioned in PubMed by the journals that mention DRUG in PubMed",
        description="Read GRAPH and print the other drugs mentioned in PubMed articles of the "
        "journals that mention DRUG in PubMed articles (clinical trials are ignored).",
        epilog=EPILOG_RELATED,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rel.add_argument("graph", type=Path, help=GRAPH_HELP)
    rel.add_argument("drug", help="drug name, any case")
    rel.add_argument("--json", action="store_true", help='print {"drug": "...", "related": [...]}')
    _add_common(rel)

    show = sub.add_parser(
        "show",
        help="draw GRAPH as an offline interactive HTML page (and a PNG picture)",
        description="Read GRAPH and write one self-contained HTML page (no network needed)\n"
        "drawing drugs, journals and publications, and optionally a static PNG picture.",
        epilog=EPILOG_SHOW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("graph", type=Path, help=GRAPH_HELP)
    show.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        help="HTML file to write (default: GRAPH with the suffix .html)",
    )
    show.add_argument("--png", type=Path, default=None, help="also write a static PNG picture")
    show.add_argument(
        "--max-nodes",
        type=int,
        default=3000,
        help="past this many nodes, sample the publications (default: 3000)",
    )
    show.add_argument("--title", default="Drug mentions graph", help="page and picture title")
    _add_common(show)
    return parser


def _environment(env: str | None) -> Environment:
    if env is None:
        return Environment()
    path = DEFAULT_CONFIG_DIR / "dag_config.yaml"
    return load_file(path, DagConfig).environment(env)


def _cmd_run(args: argparse.Namespace) -> int:
    env = _environment(args.env)
    if args.engine != "beam" and (args.runner or args.beam_args):
        raise ConfigError(
            f"{' '.join([*(['--runner'] if args.runner else []), *args.beam_args])}: "
            "expected with --engine beam only"
        )
    beam_args = [*([f"--runner={args.runner}"] if args.runner else []), *args.beam_args]
    progress = TerminalProgress()
    try:
        report = jobs.run(
            args.data_dir,
            args.lake or env.lake,
            args.output_dir or Path(env.output),
            progress=progress,
            engine=args.engine,
            full_refresh=args.full_refresh,
            beam_args=beam_args,
        )
    finally:
        progress.close()
    print(report.summary())
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    env = _environment(args.env)
    folder = args.output_folder or env.lake
    if args.bucket_name:
        folder = f"gs://{args.bucket_name}/{args.output_folder or 'imported_data'}"
    lake = Lake(folder)
    if args.source:
        missing = [f for f in ("source_type", "dest_table") if not getattr(args, f)]
        if missing:
            raise ConfigError(f"--source needs --{' and --'.join(missing)}")
        base = None
        if args.source_id and args.config_file.exists():
            known = load_file(args.config_file, ImportConfig).sources
            base = next((s for s in known if s.source_id == args.source_id), None)
        try:
            source = Source(
                source_id=args.source_id or jobs._part_name(Path(args.source)),
                source_type=args.source_type,
                source=args.source,
                dest_table=args.dest_table,
                kind=base.kind if base else None,
                options=base.options if base else {},
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            flag = "--" + ".".join(str(p) for p in error["loc"])
            raise ConfigError(f"{flag}: {error['msg'].removeprefix('Value error, ')}") from None
        sources = [source]
    else:
        config = load_file(args.config_file, ImportConfig)
        sources = [config.source(args.source_id)] if args.source_id else list(config.sources)
        if args.source_type:
            sources = [s for s in sources if s.source_type == args.source_type]
    for source in sources:
        rows = jobs.import_source(source, lake, full_reload=args.full_reload)
        print(f"{source.source_id}: {rows} rows → {lake.url}/{source.dest_table}")
    return 0


def _cmd_process(args: argparse.Namespace) -> int:
    env = _environment(args.env)
    config = (
        load_file(args.config_file, ProcessConfig) if args.config_file.exists() else ProcessConfig()
    )
    output = args.output_folder or Path(env.output)
    if args.read_from == "warehouse":
        from datapipeline.warehouse import open_warehouse

        if args.input_folder:
            raise ConfigError("--input_folder names a lake: not used with --from warehouse")
        with open_warehouse(env.warehouse) as warehouse:
            report = jobs.process(warehouse, output, config)
    else:
        report = jobs.process(Lake(args.input_folder or env.lake), output, config)
    print(report.summary())
    return 0


def _cmd_load(args: argparse.Namespace) -> int:
    from datapipeline.warehouse import load_lake, open_warehouse

    env = _environment(args.env)
    lake = Lake(args.lake or env.lake)
    with open_warehouse(env.warehouse) as warehouse:
        for table, rows in load_lake(warehouse, lake, args.tables).items():
            print(f"{table}: {rows} rows → {warehouse.describe()}")
    return 0


def _cmd_sql(args: argparse.Namespace) -> int:
    from datapipeline.config import Warehouse
    from datapipeline.sql_queries import load_query
    from datapipeline.warehouse import open_warehouse

    try:
        text = load_query(args.name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    config = _environment(args.env).warehouse
    if args.warehouse is not None:
        if not args.warehouse.is_file():
            raise ConfigError(f"{args.warehouse}: warehouse file not found")
        config = Warehouse(backend="duckdb", path=str(args.warehouse))
    with open_warehouse(config) as warehouse:
        result = pl.from_arrow(warehouse.query(text))
    assert isinstance(result, pl.DataFrame)
    if args.csv:
        print(result.write_csv(), end="")
    else:
        with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
            print(result)
    return 0


def _cmd_top_journals(args: argparse.Namespace) -> int:
    from datapipeline.analysis import open_graph

    with open_graph(args.graph) as graph:
        count, journals = graph.top_journals()
    if args.json:
        print(json.dumps({"count": count, "journals": journals}, ensure_ascii=False))
    elif not journals:
        print("no journal mentions any drug")
    else:
        for journal in journals:
            print(f"{journal}\t{count}")
    return 0


def _cmd_related_drugs(args: argparse.Namespace) -> int:
    from datapipeline.analysis import open_graph

    with open_graph(args.graph) as graph:
        drug, related = graph.related_drugs(args.drug)
    if args.json:
        print(json.dumps({"drug": drug, "related": related}, ensure_ascii=False))
    else:
        print("\n".join(related) if related else f"no drug related to {drug}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from datapipeline.analysis import open_graph
    from datapipeline.visual import write_html, write_png

    if args.max_nodes < 1:
        raise ConfigError(f"--max-nodes: expected a positive number, got {args.max_nodes}")
    output = args.output or args.graph.with_suffix(".html")
    with open_graph(args.graph, full=True) as graph:
        write_html(output, graph, max_nodes=args.max_nodes, title=args.title)
        print(f"page written to {output}")
        if args.png:
            write_png(args.png, graph, max_nodes=min(args.max_nodes, 1200), title=args.title)
            print(f"picture written to {args.png}")
    return 0


COMMANDS = {
    "run": _cmd_run,
    "import": _cmd_import,
    "process": _cmd_process,
    "load": _cmd_load,
    "sql": _cmd_sql,
    "top-journals": _cmd_top_journals,
    "related-drugs": _cmd_related_drugs,
    "show": _cmd_show,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one clear line and exit 2 on a user error, a traceback only with --debug."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":  # only `run` passes options on (to Beam)
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.beam_args = extra
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.WARNING,
        format="%(levelname)s: %(message)s"
        if not args.debug
        else "%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    try:
        return COMMANDS[args.command](args)
    except DataPipelineError as exc:
        if args.debug:
            raise
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except OSError as exc:
        # The system refused a file operation (permissions, disk full): not a bug to trace.
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {redact(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
