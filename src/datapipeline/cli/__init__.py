"""The ``datapipeline`` command: it parses arguments, then calls the package.

:mod:`~datapipeline.cli.parser` holds the arguments of each command,
:mod:`~datapipeline.cli.commands` what each does, :mod:`~datapipeline.cli.help` the examples
of ``--help``; :func:`main` ties them and turns errors into one line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from datapipeline.cli.commands import COMMANDS
from datapipeline.cli.parser import build_parser, check_extra, subcommand
from datapipeline.errors import DataPipelineError
from datapipeline.security import RedactingFilter, redact

__all__ = ["COMMANDS", "build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: one clear line and exit 2 on a user error, a traceback only with --debug."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.extra = extra
    command = subcommand(parser, args.command)
    args.beam_args = check_extra(parser, command, args)
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
