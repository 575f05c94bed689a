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

from datapipeline import __version__, jobs
from datapipeline.config import ImportConfig, ProcessConfig, Source, describe_error, load_file
from datapipeline.config_folder import IMPORT_FILE, PROCESS_FILE, ConfigFolder
from datapipeline.engines import engine_names
from datapipeline.errors import ConfigError, DataPipelineError
from datapipeline.importing import import_source
from datapipeline.lake import Lake
from datapipeline.processing import process
from datapipeline.progress import TerminalProgress
from datapipeline.run.sources import SAMPLE_DATA_DIR, source_id_for
from datapipeline.security import RedactingFilter, redact
from datapipeline.suggest import did_you_mean

log = logging.getLogger("datapipeline")

EPILOG_MAIN = """examples:
  datapipeline run                              # sample data → processed_data/graph.json
  datapipeline run --data-dir ../shared/reference-data/servier-test --output-dir out
  datapipeline run --engine beam --runner DirectRunner --direct_num_workers=2
  datapipeline check                            # config and input files, without running
  datapipeline import --config_file config/file_to_import.yaml
  datapipeline process --input_folder imported_data --output_folder processed_data
  datapipeline import --bucket_name my-bucket --output_folder imported_data   # gs:// lake
  datapipeline import --config_file config/sales_to_import.yaml   # the sales sample
  datapipeline load                             # lake tables → processed_data/warehouse.duckdb
  datapipeline sql query_1                      # revenue per day in 2019, on the warehouse
  datapipeline top-journals processed_data/graph.json
  datapipeline related-drugs processed_data/graph.json ETHANOL --json
  datapipeline show processed_data/graph.json --output graph.html --png graph.png
  datapipeline --config-dir ~/DataPipeline/config import    # from any folder

The config folder (config files of import, process, --env) is --config-dir, else
$DATAPIPELINE_CONFIG_DIR, else config/ in the current folder; `run` needs none.
Run `datapipeline COMMAND --help` for the options and examples of each command.
"""

EPILOG_RUN = """examples:
  datapipeline run
      the shipped sample data → imported_data/ (lake) and processed_data/graph.json
  datapipeline run --data-dir ../shared/reference-data/servier-test --output-dir out --lake lake
      import the folder's drugs*.csv, pubmed*.csv, pubmed*.json, clinical_trials*.csv
  datapipeline run --lake gs://my-bucket/imported_data --env prod
      the lake in Cloud Storage, other defaults from config/dag_config.yaml (prod)
  datapipeline run --engine beam --runner DirectRunner --direct_num_workers=2
      the Beam engine; options not listed here go to Beam (with --engine beam only)

outputs: graph.json (the drug-mention graph), run_report.json, rejected_rows.jsonl
"""

EPILOG_IMPORT = """examples:
  datapipeline import
      every source of config/file_to_import.yaml → imported_data/
  datapipeline import --config_file config/file_to_import.yaml --source_id pubmed_json
      only one source of the config
  datapipeline import --source src/datapipeline/sample_data/pubmed.csv --source_type csv \\
      --dest_table pubmed
      one file, no config
  datapipeline import --config_file config/sales_to_import.yaml
      the sales sample (TRANSACTIONS, PRODUCT_NOMENCLATURE) for `datapipeline sql`
  datapipeline import --bucket_name my-bucket --output_folder imported_data
      write the lake to gs://my-bucket/imported_data

A relative --config_file is looked up in the current folder, then in the config folder.
"""

EPILOG_PROCESS = """examples:
  datapipeline process
      imported_data/ → processed_data/graph.json (config/file_to_process.yaml if present)
  datapipeline process --input_folder imported_data --output_folder processed_data
  datapipeline process --input_folder gs://my-bucket/imported_data --output_folder out
"""

EPILOG_LAKE = """examples:
  datapipeline lake ls
      every table of imported_data/: each source (file or database table), its rows, its part
  datapipeline lake ls pubmed --lake gs://my-bucket/imported_data
  datapipeline lake rm pubmed data/pubmed_2019.csv
      take that file's rows out of the pubmed table (the next run imports it again if the
      file is still in its data folder)
"""

EPILOG_LOAD = """examples:
  datapipeline load
      every table of imported_data/ → processed_data/warehouse.duckdb
  datapipeline load --tables TRANSACTIONS PRODUCT_NOMENCLATURE
  datapipeline load --env prod
      gs:// lake → BigQuery load jobs (WRITE_TRUNCATE), as config/dag_config.yaml says
"""

EPILOG_SQL = """examples:
  datapipeline import --config_file config/sales_to_import.yaml && datapipeline load
      first: the shipped sales sample into the lake, then into processed_data/warehouse.duckdb
  datapipeline sql query_1
      revenue per day in 2019 (date, ventes), on processed_data/warehouse.duckdb
  datapipeline sql query_2 --env prod
      sales of furniture and decoration per client in 2020, on BigQuery
  datapipeline sql query_1 --warehouse sales.duckdb --csv
      on another DuckDB file, as CSV
"""

EPILOG_CHECK = """examples:
  datapipeline check
      the config folder's files parse, every file source of its import configs opens, and
      the sample data folder has every source and each file opens with its reader
  datapipeline check --data-dir ../shared/reference-data/servier-test --env prod

Prints one `ok:` line per thing checked, one `error:` line per problem (exit status 2).
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
      pip install -e '.[viz]' in the DataPipeline checkout)
  datapipeline show big_graph.json --max-nodes 5000
      draw more nodes before sampling publications

The page: search a drug or journal, click a node for its details, filter by kind and by date
range; the journals mentioning the most distinct drugs are marked as top journals. Past
--max-nodes nodes it keeps every drug and journal and a sample of the publications, and says so.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with "did you mean" on an unknown choice (a command, ``--engine``…)."""

    def _check_value(self, action: argparse.Action, value: object) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            names = [str(c) for c in choices]
            raise argparse.ArgumentError(
                action,
                f"invalid choice: {value!r} (choose from {', '.join(names)})"
                f"{did_you_mean(str(value), names)}",
            )


def _add_global(parser: argparse.ArgumentParser, top: bool, config: bool) -> None:
    """Options every command takes, also accepted before it (``datapipeline --debug run``)."""
    # On a command, a global option left out must not reset the value given before it.
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="log details; show tracebacks",
    )
    if config:
        parser.add_argument(
            "--config-dir",
            type=Path,
            default=None if top else argparse.SUPPRESS,
            help="config folder (default: $DATAPIPELINE_CONFIG_DIR, else ./config)",
        )


def _add_env(parser: argparse.ArgumentParser) -> None:
    _add_global(parser, top=False, config=True)
    parser.add_argument(
        "--env",
        default=None,
        help="environment of the config folder's dag_config.yaml (dv, prod…): its lake, "
        "output folder and warehouse",
    )


def _flag(
    parser: argparse.ArgumentParser, name: str, dashed_first: bool = False, **kwargs: object
) -> None:
    """Accept the seed's underscore spelling and the dashed one (shown first in the usage
    line with ``dashed_first``: the options that are not the seed's)."""
    spellings = [f"--{name}"]
    if "_" in name:
        spellings.append(f"--{name.replace('_', '-')}")
    if dashed_first:
        spellings.reverse()
    parser.add_argument(*spellings, dest=name, **kwargs)  # type: ignore[arg-type]


def _command(
    sub: argparse._SubParsersAction[_Parser], name: str, epilog: str, help: str, description: str
) -> _Parser:
    return sub.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = _Parser(
        prog="datapipeline",
        description="Import drugs and publications into a Parquet lake and build the graph "
        "of which drugs each publication and journal mentions, and when.",
        epilog=EPILOG_MAIN,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"datapipeline {__version__}")
    _add_global(parser, top=True, config=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _command(
        sub,
        "run",
        EPILOG_RUN,
        help="import every source, then build the graph (the main job)",
        description="Import drugs*.csv, pubmed*.csv, pubmed*.json and clinical_trials*.csv from "
        "DATA_DIR into the lake, then write graph.json, run_report.json and rejected_rows.jsonl.",
    )
    _flag(
        run,
        "data_dir",
        dashed_first=True,
        type=Path,
        default=None,
        help="input folder (default: the shipped sample data)",
    )
    _flag(
        run,
        "output_dir",
        dashed_first=True,
        type=Path,
        default=None,
        help="output folder (default: processed_data)",
    )
    run.add_argument(
        "--lake", default=None, help="lake folder or gs:// URL (default: imported_data)"
    )
    run.add_argument(
        "--engine",
        choices=engine_names(),
        default="auto",
        help="auto (default: local, or stream when the input files are large for this "
        "machine's memory), local (in memory; reruns match only new titles), stream (the "
        "lake processed part by part, in bounded memory) or beam (Apache Beam pipeline; any "
        "--option not listed here is passed to Beam as a pipeline option)",
    )
    run.add_argument(
        "--runner",
        default=None,
        help="Beam runner with --engine beam: DirectRunner (default), DataflowRunner…",
    )
    _flag(
        run,
        "full_refresh",
        dashed_first=True,
        action="store_true",
        help="re-import every file and re-match every title (default: only what changed)",
    )
    _flag(
        run,
        "on_bad_file",
        dashed_first=True,
        choices=("fail", "skip"),
        default="fail",
        help="a file its reader refuses whole (wrong format, missing column…): fail (default: "
        "stop the run) or skip (list it as rejected in the report and rejected_rows.jsonl, and "
        "go on; local and stream engines)",
    )
    _add_env(run)

    check = _command(
        sub,
        "check",
        EPILOG_CHECK,
        help="check the config files and the input files without running anything",
        description="Parse the config folder's files, open every file source of its import "
        "configs and every file of the data folder with its reader (header and records); "
        "write nothing.",
    )
    _flag(
        check,
        "data_dir",
        dashed_first=True,
        type=Path,
        default=None,
        help="input folder of `run` to check (default: the shipped sample data)",
    )
    _add_env(check)

    imp = _command(
        sub,
        "import",
        EPILOG_IMPORT,
        help="the import job: sources → Parquet lake",
        description="Import the sources of a config file (or one source given by flags) "
        "into the lake.",
    )
    _flag(
        imp,
        "config_file",
        type=Path,
        default=None,
        help="sources config (default: file_to_import.yaml of the config folder)",
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
    _add_env(imp)

    proc = _command(
        sub,
        "process",
        EPILOG_PROCESS,
        help="the process job: lake → graph.json",
        description="Clean, merge and match the lake tables; write graph.json and its report.",
    )
    _flag(
        proc,
        "config_file",
        type=Path,
        default=None,
        help="process config (default: file_to_process.yaml of the config folder, if any)",
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
    _add_env(proc)

    load = _command(
        sub,
        "load",
        EPILOG_LOAD,
        help="load the lake's tables into the warehouse (DuckDB or BigQuery)",
        description="Replace each warehouse table with the lake table of the same name: "
        "DuckDB (one file, the default) or BigQuery (load jobs from a gs:// lake), as the "
        "environment's warehouse section of config/dag_config.yaml says.",
    )
    load.add_argument(
        "--lake", default=None, help="lake folder or gs:// URL (default: the environment's)"
    )
    load.add_argument(
        "--tables", nargs="+", default=None, help="tables to load (default: all of the lake's)"
    )
    _add_env(load)

    lake = _command(
        sub,
        "lake",
        EPILOG_LAKE,
        help="list the sources the lake holds, or remove some",
        description="ls: each source of each table (or of TABLE): its rows, the part holding "
        "them, its size and repairs. rm TABLE SOURCE…: take the rows of SOURCE (a file path "
        "as imported, or db:<source_id>) out of TABLE.",
    )
    lake.add_argument("action", choices=("ls", "rm"), help="ls or rm")
    lake.add_argument("table", nargs="?", default=None, help="the table (rm: required)")
    lake.add_argument("sources", nargs="*", help="rm: the sources to remove")
    lake.add_argument(
        "--lake", default=None, help="lake folder or gs:// URL (default: the environment's)"
    )
    _add_env(lake)

    sql = _command(
        sub,
        "sql",
        EPILOG_SQL,
        help="run one of the two sales queries on the warehouse",
        description="Run sql_queries/NAME.sql on the environment's warehouse (TRANSACTIONS and "
        "PRODUCT_NOMENCLATURE tables) and print the result as a table.",
    )
    sql.add_argument("name", help="query_1 or query_2")
    sql.add_argument("--warehouse", type=Path, default=None, help="a DuckDB file to query instead")
    sql.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    _add_env(sql)

    top = _command(
        sub,
        "top-journals",
        EPILOG_TOP,
        help="the journal(s) mentioning the most distinct drugs",
        description="Read GRAPH and print the journal(s) that mention the most distinct "
        "drugs (all ties).",
    )
    top.add_argument("graph", type=Path, help=GRAPH_HELP)
    top.add_argument("--json", action="store_true", help='print {"count": N, "journals": [...]}')
    _add_global(top, top=False, config=False)

    rel = _command(
        sub,
        "related-drugs",
        EPILOG_RELATED,
        help="drugs mentioned in PubMed by the journals that mention DRUG in PubMed",
        description="Read GRAPH and print the other drugs mentioned in PubMed articles of the "
        "journals that mention DRUG in PubMed articles (clinical trials are ignored).",
    )
    rel.add_argument("graph", type=Path, help=GRAPH_HELP)
    rel.add_argument("drug", help="drug name, any case")
    rel.add_argument("--json", action="store_true", help='print {"drug": "...", "related": [...]}')
    _add_global(rel, top=False, config=False)

    show = _command(
        sub,
        "show",
        EPILOG_SHOW,
        help="draw GRAPH as an offline interactive HTML page (and a PNG picture)",
        description="Read GRAPH and write one self-contained HTML page (no network needed)\n"
        "drawing drugs, journals and publications, and optionally a static PNG picture.",
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
    _add_global(show, top=False, config=False)
    return parser


def _options_of(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--long`` option spelling of ``parser``."""
    return [o for action in parser._actions for o in action.option_strings if o.startswith("--")]


def _is_beam_option(token: str) -> bool:
    return token.startswith("--") and len(token) > 2 and token[2] != "-"


#: Flags this alike (difflib's ratio) are offered for a mistyped one; with ``--engine beam`` an
#: unknown flag goes to Beam unless it is nearly one of ours (``--output_dri``).
FLAG_CUTOFF = 0.7
BEAM_FLAG_CUTOFF = 0.85


def _check_extra(
    parser: argparse.ArgumentParser, command: argparse.ArgumentParser, args: argparse.Namespace
) -> list[str]:
    """The arguments left over by the parsers: the Beam options of ``run --engine beam``;
    anything else is an argparse error on ``command`` (with "did you mean")."""
    extra: list[str] = args.extra
    known = [*_options_of(command), *_options_of(parser)]
    beam = args.command == "run" and args.engine == "beam"
    refused: list[str] = []
    hint = ""
    for i, token in enumerate(extra):
        flag = token.split("=", 1)[0]
        cutoff = BEAM_FLAG_CUTOFF if beam else FLAG_CUTOFF
        close = did_you_mean(flag, known, cutoff=cutoff) if token.startswith("-") else ""
        if beam and not close:
            if _is_beam_option(token):
                continue  # a Beam pipeline option (--project=P, --project P, --save_main_session)
            if not token.startswith("-") and i and _is_beam_option(extra[i - 1]):
                continue  # the value of the Beam option before it
        refused.append(token)
        if not hint and close:
            hint = close
        elif not hint and args.command == "run" and not beam and _is_beam_option(token):
            hint = " (options that are not run's go to Beam, with --engine beam only)"
    if refused:
        several = "s:" if len(refused) > 1 else ""
        command.error(f"unrecognized argument{several} {' '.join(refused)}{hint}")
    return extra if beam else []


def _sample_data_dir() -> Path:
    """The shipped sample, shown relative to the current folder when under it (``make run``
    in the checkout prints ``src/datapipeline/sample_data/…``)."""
    try:
        return SAMPLE_DATA_DIR.relative_to(Path.cwd())
    except ValueError:
        return SAMPLE_DATA_DIR


def _cmd_run(args: argparse.Namespace) -> int:
    env = ConfigFolder.find(args.config_dir).environment(args.env)
    if args.engine != "beam" and args.runner:
        raise ConfigError(f"--runner {args.runner}: expected with --engine beam only")
    beam_args = [*([f"--runner={args.runner}"] if args.runner else []), *args.beam_args]
    progress = TerminalProgress()
    try:
        with progress.logging_above():
            report = jobs.run(
                args.data_dir or _sample_data_dir(),
                args.lake or env.lake,
                args.output_dir or Path(env.output),
                progress=progress,
                engine=args.engine,
                full_refresh=args.full_refresh,
                beam_args=beam_args,
                on_bad_file=args.on_bad_file,
            )
    finally:
        progress.close()
    print(report.summary())
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from datapipeline.check import check

    problems = 0
    for ok, line in check(
        ConfigFolder.find(args.config_dir), args.env, args.data_dir or _sample_data_dir()
    ):
        if ok:
            print(f"ok: {line}")
        else:
            problems += 1
            print(f"error: {redact(line)}", file=sys.stderr)
    return 2 if problems else 0


def _one_source(args: argparse.Namespace, folder: ConfigFolder) -> Source:
    """The source named by ``--source`` and its flags (options lent by ``--source_id``)."""
    missing = [f for f in ("source_type", "dest_table") if not getattr(args, f)]
    if missing:
        raise ConfigError(f"--source needs --{' and --'.join(missing)}")
    base = None
    if args.source_id:
        path = folder.config_file(args.config_file, IMPORT_FILE)
        if path is not None and path.exists():
            base = next(
                (s for s in load_file(path, ImportConfig).sources if s.source_id == args.source_id),
                None,
            )
    try:
        return Source(
            source_id=args.source_id or source_id_for(args.source),
            source_type=args.source_type,
            source=args.source,
            dest_table=args.dest_table,
            kind=base.kind if base else None,
            options=base.options if base else {},
        )
    except ValidationError as exc:
        where, _, message = describe_error(exc, Source).partition(": ")
        raise ConfigError(f"--{where}: {message}") from None


def _cmd_import(args: argparse.Namespace) -> int:
    folder = ConfigFolder.find(args.config_dir)
    env = folder.environment(args.env)
    target = args.output_folder or env.lake
    if args.bucket_name:
        target = f"gs://{args.bucket_name}/{args.output_folder or 'imported_data'}"
    lake = Lake(target)
    if args.source:
        sources = [_one_source(args, folder)]
    else:
        _, config = folder.import_config(args.config_file)
        sources = [config.source(args.source_id)] if args.source_id else list(config.sources)
        if args.source_type:
            sources = [s for s in sources if s.source_type == args.source_type]
    for source in sources:
        rows = import_source(source, lake, full_reload=args.full_reload)
        print(f"{source.source_id}: {rows} rows → {lake.url}/{source.dest_table}")
    return 0


def _cmd_process(args: argparse.Namespace) -> int:
    folder = ConfigFolder.find(args.config_dir)
    env = folder.environment(args.env)
    path = folder.config_file(args.config_file, PROCESS_FILE)
    config = load_file(path, ProcessConfig) if path is not None else ProcessConfig()
    output = args.output_folder or Path(env.output)
    if args.read_from == "warehouse":
        from datapipeline.warehouse import open_warehouse

        if args.input_folder:
            raise ConfigError("--input_folder names a lake: not used with --from warehouse")
        with open_warehouse(env.warehouse) as warehouse:
            report = process(warehouse, output, config)
    else:
        report = process(Lake(args.input_folder or env.lake), output, config)
    print(report.summary())
    return 0


def _cmd_load(args: argparse.Namespace) -> int:
    from datapipeline.warehouse import load_lake, open_warehouse

    env = ConfigFolder.find(args.config_dir).environment(args.env)
    lake = Lake(args.lake or env.lake)
    # listed before the warehouse is opened: loading an empty lake creates no warehouse file
    tables = args.tables or lake.table_names()
    if not tables:
        raise ConfigError(f"{lake.url}: no table to load (the lake is empty: run the import)")
    with open_warehouse(env.warehouse) as warehouse:
        for table, rows in load_lake(warehouse, lake, tables).items():
            print(f"{table}: {rows} rows → {warehouse.describe()}")
    return 0


def _cmd_lake(args: argparse.Namespace) -> int:
    from datapipeline.run.imports import remove_sources, source_key_of

    env = ConfigFolder.find(args.config_dir).environment(args.env)
    lake = Lake(args.lake or env.lake)
    if args.action == "ls":
        if args.sources:
            raise ConfigError("lake ls: one TABLE at most")
        manifest = lake.manifest()
        tables = [args.table] if args.table else lake.table_names()
        for table in tables:
            found = manifest.sources(table)
            print(f"{table}: {len(found)} sources, {sum(f.entry.rows for f in found)} rows")
            for f in found:
                repairs = f"  repaired: {', '.join(f.entry.repairs)}" if f.entry.repairs else ""
                print(f"  {f.entry.source}  {f.entry.rows} rows  part {f.part}{repairs}")
        return 0
    if not args.table or not args.sources:
        raise ConfigError("lake rm: expected TABLE and at least one SOURCE")
    held = {f.entry.key: f.entry.source for f in lake.manifest().sources(args.table)}
    keys = set()
    for given in args.sources:
        key = source_key_of(given, held)
        if key is None:
            known = did_you_mean(given, list(held.values()))
            raise ConfigError(f"lake rm: {given!r} is not a source of table {args.table!r}{known}")
        keys.add(key)
    rows = remove_sources(lake, args.table, keys)
    print(f"{args.table}: {len(keys)} sources removed ({rows} rows)")
    return 0


def _cmd_sql(args: argparse.Namespace) -> int:
    from datapipeline.config import Warehouse
    from datapipeline.sql_queries import known_queries, load_query
    from datapipeline.warehouse import open_warehouse
    from datapipeline.warehouse.duckdb_backend import DEFAULT_PATH

    try:
        text = load_query(args.name)
    except ValueError as exc:
        raise ConfigError(f"{exc}{did_you_mean(args.name, known_queries())}") from None
    config = ConfigFolder.find(args.config_dir).environment(args.env).warehouse
    if args.warehouse is not None:
        config = Warehouse(backend="duckdb", path=str(args.warehouse))
    if config.backend == "duckdb" and config.path != ":memory:":
        path = Path(config.path or DEFAULT_PATH)
        if not path.is_file():  # opening it would create an empty warehouse
            raise ConfigError(
                f"{path}: warehouse file not found (import and load the sales tables first: "
                "datapipeline import --config_file config/sales_to_import.yaml, then "
                "datapipeline load)"
            )
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
    "check": _cmd_check,
    "import": _cmd_import,
    "process": _cmd_process,
    "load": _cmd_load,
    "lake": _cmd_lake,
    "sql": _cmd_sql,
    "top-journals": _cmd_top_journals,
    "related-drugs": _cmd_related_drugs,
    "show": _cmd_show,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one clear line and exit 2 on a user error, a traceback only with --debug."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.extra = extra
    command = _subcommand(parser, args.command)
    args.beam_args = _check_extra(parser, command, args)
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


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of command ``name``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise LookupError(name)


if __name__ == "__main__":
    sys.exit(main())
