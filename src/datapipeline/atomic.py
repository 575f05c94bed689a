"""Atomic file writes: a temporary file in the target folder, fsynced, then renamed over it."""

from __future__ import annotations

import errno
import io
import mmap
import os
import re
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no direct I/O, the page-cache writer
    fcntl = None  # type: ignore[assignment]


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


#: Bytes gathered before each direct write (a multiple of every block size in use).
DIRECT_CHUNK = 8 * 1024 * 1024
#: Direct writes are made of whole blocks of this size (file systems ask 512 or 4096).
DIRECT_BLOCK = 4096


def _enable_direct(fd: int) -> bool:
    """Switch ``fd`` to direct I/O (``O_DIRECT``); False where the system or the file system
    has none (macOS, some tmpfs)."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag or fcntl is None:
        return False
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | flag)
    except OSError:
        return False
    return True


class _DirectWriter(io.RawIOBase):
    """A binary file written around the page cache (``O_DIRECT``), from two reused buffers.

    Written through the page cache, every new page of a large file is allocated (and charged
    to the machine's memory) as it is written: most of the cost of writing a graph.json
    (benchmarks/README.md). Direct writes go from fixed, aligned buffers to the disk. A direct
    write returns only once the disk has the bytes, so a full buffer is written on a thread of
    the file while the caller fills the other one: encoding and the disk work at the same time.
    Bytes are gathered into whole blocks; the last block is padded, then the file is cut to its
    length. Should the file system refuse a direct write, the file goes on through the page
    cache. An error of a write made on the thread is raised by the caller's next write, flush
    or close.
    """

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        # page-aligned, as O_DIRECT wants; the second one once the first is full
        self._buffers = [mmap.mmap(-1, DIRECT_CHUNK)]
        self._views = [memoryview(self._buffers[0])]
        self._view = self._views[0]  # the buffer being filled
        self._used = 0  # bytes gathered in it
        self._size = 0  # bytes written by the caller
        self._unflushed = False
        self._pool: ThreadPoolExecutor | None = None  # the file's writing thread, once needed
        self._writing: Future[None] | None = None  # the full buffer being written

    def fileno(self) -> int:
        return self._fd

    def tell(self) -> int:
        return self._size

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        done = 0
        while done < len(view):
            take = min(DIRECT_CHUNK - self._used, len(view) - done)
            self._view[self._used : self._used + take] = view[done : done + take]
            self._used += take
            done += take
            if self._used == DIRECT_CHUNK:
                self._hand_over()
        self._size += done
        self._unflushed = self._unflushed or done > 0
        return done

    def _hand_over(self) -> None:
        """Have the full buffer written on the file's thread; go on in the other one."""
        self._wait()
        if len(self._views) == 1:
            self._buffers.append(mmap.mmap(-1, DIRECT_CHUNK))
            self._views.append(memoryview(self._buffers[1]))
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="direct-write")
        assert self._pool is not None
        full = self._view
        self._writing = self._pool.submit(self._write_out, full, DIRECT_CHUNK)
        self._view = self._views[1] if full is self._views[0] else self._views[0]
        self._used = 0

    def _wait(self) -> None:
        """Wait for the buffer being written; its error abandons the file."""
        writing, self._writing = self._writing, None
        if writing is None:
            return
        try:
            writing.result()
        except BaseException:
            # the file is abandoned (full disk, I/O error): not written again on close
            self._unflushed = False
            self._used = 0
            raise

    def _write_out(self, buffer: memoryview, length: int) -> None:
        """Write ``buffer``'s first ``length`` bytes (whole blocks, or the file's end)."""
        written = 0
        while written < length:
            # released at once, even when the write fails and its traceback is kept: the
            # buffer cannot be closed while a view of it lives
            piece = buffer[written:length]
            try:
                written += os.write(self._fd, piece)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                # a block size or alignment this file system does not take: go on buffered
                flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
                fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~getattr(os, "O_DIRECT", 0))
            finally:
                piece.release()

    def flush(self) -> None:
        """Write what is gathered: the last block padded with zeros, the file cut to its length.

        That block stays gathered and the file position at its start: a later write rewrites
        it whole."""
        if self.closed:
            return
        self._wait()
        if not self._unflushed:
            return
        tail = self._used
        rest = tail % DIRECT_BLOCK
        padded = tail - rest + (DIRECT_BLOCK if rest else 0)
        self._view[tail:padded] = bytes(padded - tail)
        try:
            self._write_out(self._view, padded)
        except BaseException:
            self._unflushed = False
            self._used = 0
            raise
        os.ftruncate(self._fd, self._size)
        if rest:
            self._view[:rest] = self._view[tail - rest : tail]
            self._used = rest
            os.lseek(self._fd, self._size - rest, os.SEEK_SET)
        else:
            self._used = 0
        self._unflushed = False

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
        finally:
            # nothing left to flush once the buffers are gone: IOBase.close flushes again
            self._unflushed = False
            if self._pool is not None:
                self._pool.shutdown(wait=True)  # a failed flush may leave a write running
            for view in self._views:
                view.release()
            for buffer in self._buffers:
                buffer.close()
            os.close(self._fd)
            super().close()


def _binary_writer(fd: int) -> IO[bytes]:
    """The writer of a large binary file: direct where the file system allows it."""
    if _enable_direct(fd):
        return _DirectWriter(fd)  # type: ignore[return-value]
    return _WritebackWriter(io.FileIO(fd, "wb"))


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
            _binary_writer(fd) if binary else os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        ) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        if exc.filename is None and exc.errno is not None:
            # a write or fsync names no file: the error says which one it was
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
