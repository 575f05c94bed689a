"""The argument parser of the ``datapipeline`` command: one function per command, and the
check of what is left over (Beam's options, or a mistyped flag with "did you mean")."""

from __future__ import annotations

import argparse
from pathlib import Path

from datapipeline import __version__
from datapipeline.cli.help import (
    EPILOG_CHECK,
    EPILOG_IMPORT,
    EPILOG_LAKE,
    EPILOG_LOAD,
    EPILOG_MAIN,
    EPILOG_PROCESS,
    EPILOG_RELATED,
    EPILOG_RUN,
    EPILOG_SHOW,
    EPILOG_SQL,
    EPILOG_TOP,
    GRAPH_HELP,
)
from datapipeline.engines import engine_names
from datapipeline.suggest import did_you_mean


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

    _add_run(sub)
    _add_check(sub)
    _add_import(sub)
    _add_process(sub)
    _add_load(sub)
    _add_lake(sub)
    _add_sql(sub)
    _add_top_journals(sub)
    _add_related_drugs(sub)
    _add_show(sub)
    return parser


def _add_run(sub: argparse._SubParsersAction[_Parser]) -> None:
    """The ``run`` command's arguments."""
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


def _add_check(sub: argparse._SubParsersAction[_Parser]) -> None:
    """The ``check`` command's arguments."""
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


def _add_import(sub: argparse._SubParsersAction[_Parser]) -> None:
    """The ``import`` command's arguments."""
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


def _add_process(sub: argparse._SubParsersAction[_Parser]) -> None:
    """The ``process`` command's arguments."""
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


def _add_load(sub: argparse._SubParsersAction[_Parser]) -> None:
    """The ``load`` command's arguments."""
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


def _add_lake(sub: argparse._SubParsersAction[_Parser]) -> None:
    """The ``lake`` command's arguments."""
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


def _add_sql(sub: argparse._SubParsersAction[_Parser]) -> None:
    """The ``sql`` command's arguments."""
    sql = _command(
        sub,
        "sql",
        EPILOG_SQL,
        help="run one of the shipped SQL queries on the warehouse",
        description="Run sql_queries/NAME.sql on the environment's warehouse and print the "
        "result as a table: the sales questions query_1 and query_2 (tables TRANSACTIONS and "
        "PRODUCT_NOMENCLATURE), the graph's questions top_journals and related_drugs (tables "
        "graph_nodes and graph_edges).",
    )
    sql.add_argument("name", help="query_1, query_2, top_journals or related_drugs")
    sql.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a value for the query's $NAME parameter (related_drugs: drug_key=ethanol, the "
        "drug's name in lower case without accents)",
    )
    sql.add_argument("--warehouse", type=Path, default=None, help="a DuckDB file to query instead")
    sql.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    _add_env(sql)


def _add_top_journals(sub: argparse._SubParsersAction[_Parser]) -> None:
    """The ``top-journals`` command's arguments."""
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


def _add_related_drugs(sub: argparse._SubParsersAction[_Parser]) -> None:
    """The ``related-drugs`` command's arguments."""
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


def _add_show(sub: argparse._SubParsersAction[_Parser]) -> None:
    """The ``show`` command's arguments."""
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


def _options_of(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--long`` option spelling of ``parser``."""
    return [o for action in parser._actions for o in action.option_strings if o.startswith("--")]


def _is_beam_option(token: str) -> bool:
    return token.startswith("--") and len(token) > 2 and token[2] != "-"


#: Flags this alike (difflib's ratio) are offered for a mistyped one; with ``--engine beam`` an
#: unknown flag goes to Beam unless it is nearly one of ours (``--output_dri``).
FLAG_CUTOFF = 0.7

BEAM_FLAG_CUTOFF = 0.85


def check_extra(
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


def subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The parser of command ``name``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise LookupError(name)
