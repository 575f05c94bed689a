"""The commands of ``datapipeline``: each takes the parsed arguments, calls the package and
prints what the user asked for; errors are left to :func:`datapipeline.cli.main`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
from pydantic import ValidationError

from datapipeline import jobs
from datapipeline.config import ImportConfig, ProcessConfig, Source, describe_error, load_file
from datapipeline.config_folder import IMPORT_FILE, PROCESS_FILE, ConfigFolder
from datapipeline.errors import ConfigError
from datapipeline.importing import import_source
from datapipeline.lake import Lake
from datapipeline.processing import process
from datapipeline.progress import TerminalProgress
from datapipeline.run.sources import SAMPLE_DATA_DIR, source_id_for
from datapipeline.security import redact
from datapipeline.suggest import did_you_mean


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
    values = _query_parameters(args.name, text, args.param)
    with open_warehouse(config) as warehouse:
        result = pl.from_arrow(warehouse.query(text, values or None))
    assert isinstance(result, pl.DataFrame)
    if args.csv:
        print(result.write_csv(), end="")
    else:
        with pl.Config(tbl_rows=-1, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
            print(result)
    return 0


def _query_parameters(name: str, text: str, given: list[str]) -> dict[str, str]:
    """The ``--param NAME=VALUE`` values of query ``name``: each of its parameters once,
    no other."""
    from datapipeline.sql_queries import parameters

    wanted = parameters(text)
    values: dict[str, str] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param {item}: expected NAME=VALUE")
        if key not in wanted:
            known = f"its parameters: {', '.join(wanted)}" if wanted else "it has no parameter"
            raise ConfigError(f"--param {key}: not a parameter of {name} ({known})")
        values[key] = value
    missing = [key for key in wanted if key not in values]
    if missing:
        needed = " ".join(f"--param {key}=VALUE" for key in missing)
        raise ConfigError(f"{name}: expected {needed}")
    return values


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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
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
