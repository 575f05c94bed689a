"""Repairs made while reading input: each is told once, in the run report or as a warning.

A reader that accepts a defective file by repairing it (an encoding guessed, a trailing comma
ignored) calls :func:`note`; :func:`collect` gathers the notes of a block (the import step of
``datapipeline run``) so the report and the summary's ``repaired:`` lines list them: there the
note is only logged at INFO (``--debug`` shows it), not warned a second time. Outside
``collect`` the warning is the only trace (``datapipeline import`` prints it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: Repair identifiers, stable: they appear in run_report.json.
DECODED_AS = (
    "decoded_as_"  # + the encoding: decoded_as_cp1252, decoded_as_latin-1, decoded_as_utf-16
)
TRAILING_COMMA = "trailing_comma_ignored"


@dataclass(frozen=True, order=True)
class Repair:
    """One repair of one file."""

    file: str
    repair: str

    def to_dict(self) -> dict[str, str]:
        """The repair as written to the run report."""
        return {"file": self.file, "repair": self.repair}


#: The list a :func:`collect` block gathers repairs into, and whether it warns too.
_collected: ContextVar[tuple[list[Repair], bool] | None] = ContextVar(
    "datapipeline_repairs", default=None
)


def note(file: str, repair: str, message: str) -> None:
    """Record that ``file`` was repaired (``repair`` id); warn with ``message`` unless a
    :func:`collect` block gathers it for a report."""
    collected = _collected.get()
    if collected is None or collected[1]:
        log.warning("%s: %s", file, message)
    else:
        log.info("%s: %s", file, message)
    if collected is not None:
        collected[0].append(Repair(file, repair))


@contextmanager
def collect(warn: bool = False) -> Iterator[list[Repair]]:
    """Gather the repairs noted inside the block into the yielded list; with ``warn``, each
    is also a warning (no report will tell it)."""
    found: list[Repair] = []
    token = _collected.set((found, warn))
    try:
        yield found
    finally:
        _collected.reset(token)
