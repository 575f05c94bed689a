"""Progress on the terminal: one self-rewriting status line, silent when not on a terminal.

Logs and CI output stay clean (nothing is printed unless stderr is a TTY); on a terminal the
user sees which step runs and, for steps over many files, a bar. ``DATAPIPELINE_PROGRESS``
overrides the guess: ``plain`` prints one line per step (for logs that want them, such as a
scheduler's task log), ``off`` prints nothing, ``bar`` forces the status line.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 24

#: A progress sink: ``progress(step, done, total)``; :class:`TerminalProgress` is one.
Progress = Callable[..., None]


def quiet(*_: object, **__: object) -> None:
    """The progress sink that shows nothing."""


class TerminalProgress:
    """A callable progress sink: ``progress("import", done=3, total=8)``."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        mode = os.environ.get("DATAPIPELINE_PROGRESS", "auto")
        self.plain = mode == "plain"
        if enabled is None:
            enabled = mode in ("plain", "bar") or (mode == "auto" and self.stream.isatty())
        self.enabled = enabled
        self._width = 0
        self._step = ""
        self._start = time.perf_counter()

    def __call__(self, step: str, done: int | None = None, total: int | None = None) -> None:
        """Show ``step``; with ``done``/``total``, a bar."""
        if not self.enabled:
            return
        if self.plain:
            if step != self._step:
                self.stream.write(f"{step} …\n")
                self.stream.flush()
                self._step = step
            return
        elapsed = time.perf_counter() - self._start
        line = f"{elapsed:6.1f}s  {step}"
        if total:
            filled = int(BAR_WIDTH * (done or 0) / total)
            line += f"  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}"
        self.stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self.stream.flush()

    def close(self) -> None:
        """Clear the status line before the summary is printed."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
