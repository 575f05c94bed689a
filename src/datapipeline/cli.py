"""The ``datapipeline`` command: it parses arguments, then calls the package."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

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
from datapipeline.security import RedactingFilter, redact

log = logging.getLogger("datapipeline")

EPILOG_MAIN = """examples:
  datapipeline run                              # sample data → processed_data/graph.json
  datapipeline run --data-dir ./data --output-dir ./out
  datapipeline import --config_file config/file_to_import.yaml
  datapipeline process --input_folder imported_data --output_folder processed_data
  datapipeline top-journals processed_data/graph.json
  datapipeline related-drugs processed_data/graph.json ETHANOL --json
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
    _add_common(run)

    imp = sub.add_parser(
        "import",
        help="the import job: sources → Parquet lake",
        description="Import the sources of a config file (or one source given by flags) "
        "into the lake.",
    )
    _flag(
        imp,
        "config_file",
        type=Path,
        default=DEFAULT_CONFIG_DIR / "file_to_import.yaml",
        help="sources config",
    )
    _flag(imp, "source_type", help="reader: csv, json")
    _flag(imp, "source_id", help="import only this source of the config (or name the --source)")
    _flag(imp, "source", help="path of one source to import (with --source_type and --dest_table)")
    _flag(imp, "dest_table", help="lake table of --source")
    _flag(imp, "bucket_name", help="write the lake to gs://BUCKET/OUTPUT_FOLDER")
    _flag(imp, "output_folder", default=None, help="lake folder (default: imported_data)")
    _add_common(imp)

    proc = sub.add_parser(
        "process",
        help="the process job: lake → graph.json",
        description="Clean, merge and match the lake tables; write graph.json and its report.",
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
    _add_common(proc)

    top = sub.add_parser(
        "top-journals",
        help="the journal(s) mentioning the most distinct drugs",
        description="Read GRAPH and print the journal(s) that mention the most distinct "
        "drugs (all ties).",
    )
    top.add_argument("graph", type=Path, help="graph.json written by run or process")
    top.add_argument("--json", action="store_true", help='print {"count": N, "journals": [...]}')
    _add_common(top)

    rel = sub.add_parser(
        "related-drugs",
        help="drugs mentioned in PubMed by the journals that mention DRUG in PubMed",
        description="Read GRAPH and print the other drugs mentioned in PubMed articles of the "
        "journals that mention DRUG in PubMed articles (clinical trials are ignored).",
    )
    rel.add_argument("graph", type=Path, help="graph.json written by run or process")
    rel.add_argument("drug", help="drug name, any case")
    rel.add_argument("--json", action="store_true", help='print {"drug": "...", "related": [...]}')
    _add_common(rel)
    return parser


def _environment(env: str | None) -> Environment:
    if env is None:
        return Environment()
    path = DEFAULT_CONFIG_DIR / "dag_config.yaml"
    return load_file(path, DagConfig).environment(env)


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _cmd_run(args: argparse.Namespace) -> int:
    env = _environment(args.env)
    report = jobs.run(
        args.data_dir,
        args.lake or env.lake,
        args.output_dir or Path(env.output),
        progress=_progress,
    )
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
        try:
            source = Source(
                source_id=args.source_id or jobs._part_name(Path(args.source)),
                source_type=args.source_type,
                source=args.source,
                dest_table=args.dest_table,
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
        rows = jobs.import_source(source, lake)
        print(f"{source.source_id}: {rows} rows → {lake.url}/{source.dest_table}")
    return 0


def _cmd_process(args: argparse.Namespace) -> int:
    env = _environment(args.env)
    config = (
        load_file(args.config_file, ProcessConfig) if args.config_file.exists() else ProcessConfig()
    )
    lake = Lake(args.input_folder or env.lake)
    report = jobs.process(lake, args.output_folder or Path(env.output), config)
    print(report.summary())
    return 0


def _cmd_top_journals(args: argparse.Namespace) -> int:
    from datapipeline.analysis import load_graph, top_journals

    count, journals = top_journals(load_graph(args.graph))
    if args.json:
        print(json.dumps({"count": count, "journals": journals}, ensure_ascii=False))
    elif not journals:
        print("no journal mentions any drug")
    else:
        for journal in journals:
            print(f"{journal}\t{count}")
    return 0


def _cmd_related_drugs(args: argparse.Namespace) -> int:
    from datapipeline.analysis import load_graph, related_drugs

    drug, related = related_drugs(load_graph(args.graph), args.drug)
    if args.json:
        print(json.dumps({"drug": drug, "related": related}, ensure_ascii=False))
    else:
        print("\n".join(related) if related else f"no drug related to {drug}")
    return 0


COMMANDS = {
    "run": _cmd_run,
    "import": _cmd_import,
    "process": _cmd_process,
    "top-journals": _cmd_top_journals,
    "related-drugs": _cmd_related_drugs,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one clear line and exit 2 on a user error, a traceback only with --debug."""
    args = build_parser().parse_args(argv)
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
