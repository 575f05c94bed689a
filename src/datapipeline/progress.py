"""Progress on the terminal: one self-rewriting status line, silent when not on a terminal.

Logs and CI output stay clean (nothing is printed unless stderr is a TTY); on a terminal the
user sees which step runs and, for steps over many files, a bar. ``DATAPIPELINE_PROGRESS``
overrides the guess: ``plain`` prints one line per step (for logs that want them, such as a
scheduler's task log), ``off`` prints nothing, ``bar`` forces the status line. A log line
written while the status line shows starts on a line of its own (:meth:`logging_above`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
        self._line = ""
        self._step = ""
        self._start = time.perf_counter()
        self._lock = threading.RLock()  # steps are announced from the import's threads too

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
        with self._lock:
            self._draw(line)

    def _draw(self, line: str) -> None:
        self.stream.write("\r" + line.ljust(self._width))
        self._width = len(line)
        self._line = line
        self.stream.flush()

    def close(self) -> None:
        """Clear the status line before the summary is printed."""
        with self._lock:
            self._clear()
            self._line = ""

    def _clear(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    @contextmanager
    def logging_above(self, logger: logging.Logger | None = None) -> Iterator[None]:
        """While the block runs, log lines written to this progress's stream start on a clean
        line: the status line is cleared, the record written, the status line drawn again
        below it (the handlers of ``logger``, default the root logger, are wrapped)."""
        logger = logger or logging.getLogger()
        if not self.enabled or self.plain:
            yield
            return
        originals = list(logger.handlers)
        wrapped = [_AboveStatusLine(h, self) for h in originals]
        for original, wrapper in zip(originals, wrapped, strict=True):
            logger.removeHandler(original)
            logger.addHandler(wrapper)
        try:
            yield
        finally:
            for original, wrapper in zip(originals, wrapped, strict=True):
                logger.removeHandler(wrapper)
                logger.addHandler(original)

    def write_above(self) -> _Above:
        """A context in which text written to the stream starts on a clean line and the status
        line is drawn again after it."""
        return _Above(self)


class _Above:
    """Clears the status line on entry and draws it again on exit (under the progress lock)."""

    def __init__(self, progress: TerminalProgress) -> None:
        self.progress = progress

    def __enter__(self) -> None:
        self.progress._lock.acquire()
        self.progress._clear()

    def __exit__(self, *_: object) -> None:
        try:
            if self.progress._line:
                self.progress._draw(self.progress._line)
        finally:
            self.progress._lock.release()


class _AboveStatusLine(logging.Handler):
    """A handler that lets ``inner`` write its record above the progress's status line."""

    def __init__(self, inner: logging.Handler, progress: TerminalProgress) -> None:
        super().__init__(inner.level)
        self.inner = inner
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        with self.progress.write_above():
            self.inner.handle(record)
