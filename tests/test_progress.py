"""The terminal status line: log lines written while it shows start on a line of their own."""

from __future__ import annotations

import io
import logging

import pytest

from datapipeline.progress import TerminalProgress


def screen(written: str) -> list[str]:
    """What a terminal shows for ``written``: ``\\r`` returns to the line's start, ``\\n``
    starts a new line, other characters overwrite the one under the cursor."""
    lines: list[list[str]] = [[]]
    column = 0
    for char in written:
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append([])
            column = 0
        else:
            line = lines[-1]
            if column < len(line):
                line[column] = char
            else:
                line.append(char)
            column += 1
    return ["".join(line).rstrip() for line in lines]


@pytest.fixture
def logger() -> logging.Logger:
    """A logger of the test's own, outside the logging tree (no other handler sees it)."""
    return logging.Logger("test_progress")


def test_a_log_line_is_not_glued_to_the_status_line(logger: logging.Logger) -> None:
    terminal = io.StringIO()
    handler = logging.StreamHandler(terminal)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logger.addHandler(handler)
    progress = TerminalProgress(terminal, enabled=True)
    with progress.logging_above(logger):
        progress("import", done=1, total=4)
        logger.warning("a.csv: something to say")
        progress("import", done=2, total=4)
    shown = screen(terminal.getvalue())
    assert shown[0] == "WARNING: a.csv: something to say"  # a line of its own, nothing glued
    assert shown[1].endswith("import  [############............] 2/4")
    assert shown[1].split()[0].endswith("s")  # the status line drawn again below it
    assert logger.handlers == [handler]  # the handlers are given back after the block
    progress.close()
    assert screen(terminal.getvalue())[1] == ""  # the summary then starts on a clean line


def test_the_status_line_comes_back_after_a_log_line(logger: logging.Logger) -> None:
    terminal = io.StringIO()
    logger.addHandler(logging.StreamHandler(terminal))
    progress = TerminalProgress(terminal, enabled=True)
    with progress.logging_above(logger):
        progress("write graph")
        logger.warning("late news")
        shown = screen(terminal.getvalue())
    assert shown[0] == "late news"
    assert shown[1].endswith("write graph")  # redrawn at once, not at the next step


def test_off_a_terminal_the_handlers_are_left_alone(logger: logging.Logger) -> None:
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    with TerminalProgress(io.StringIO()).logging_above(logger):
        assert logger.handlers == [handler]
