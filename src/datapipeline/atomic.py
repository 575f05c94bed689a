"""Atomic file writes: a temporary file in the target folder, fsynced, then renamed over it."""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def stale_temps(path: Path) -> list[Path]:
    """Temporary files of ``path`` left by a killed writer (hidden: ``.<name>.XXXX.tmp``)."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]+\.tmp")
    if not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.iterdir() if pattern.fullmatch(p.name))


#: A binary file being written starts the write-back of every this many bytes written.
WRITEBACK_BYTES = 64 * 1024 * 1024


class _WritebackWriter(io.BufferedWriter):
    """A buffered binary file that has the kernel start writing its pages to disk as it goes.

    Without it the whole file waits in the page cache for the final ``fsync`` (seconds for a
    graph.json of gigabytes, with memory pressure meanwhile); with it the write-back runs
    while the rest is encoded, and the ``fsync`` finds little left to do.
    """

    def __init__(self, raw: io.FileIO) -> None:
        super().__init__(raw, buffer_size=1024 * 1024)
        self._started = 0  # bytes handed to the write-back so far
        self._written = 0

    def write(self, data: Any) -> int:
        count = super().write(data)
        self._written += count
        if self._written - self._started >= WRITEBACK_BYTES and hasattr(os, "posix_fadvise"):
            self.flush()
            # On dirty pages, DONTNEED starts their write-back without waiting for it.
            os.posix_fadvise(
                self.fileno(), self._started, self._written - self._started, os.POSIX_FADV_DONTNEED
            )
            self._started = self._written
        return count


@contextmanager
def atomic_open(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """Open ``path`` for writing (text, or bytes with ``binary``); it appears whole when the
    block ends, or not at all.

    Temporary files of the same target left by a killed earlier writer are removed first.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temps(path):
        stale.unlink(missing_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp creates the file 0600; outputs get the usual mode the umask allows.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)
    try:
        handle: IO[Any]
        with (
            _WritebackWriter(io.FileIO(fd, "wb"))
            if binary
            else os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        ) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
