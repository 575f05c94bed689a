"""A folder whose file system fails, fills up or stops at a chosen change (for tests).

:class:`Changes` wraps, in the process that runs the job, the ways the program changes files:
the ``os`` calls of its own writes (create, write, fsync, truncate, rename, link, remove:
:mod:`datapipeline.atomic` and the output sets go through them), ``write`` on text files
opened with ``os.fdopen``, and pyarrow's local file system (the lake's Parquet parts and
state: output streams and their writes, moves, deletions). Before each change under a folder
it calls a hook with the kind of change and its paths. The hook may raise (a disk that fails
or is full), kill the process (a crash), or copy the folder (what a crash there would leave:
a SIGKILL loses nothing the system calls made before it wrote).

Not seen: files written by native code on its own (Polars' writes, such as the stream
engine's spill files, which go to the system's temporary folder).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

#: ``hook(kind, paths)``, called before each change.
Hook = Callable[[str, tuple[str, ...]], None]

#: The ``os`` functions wrapped, with the positions of their path (or descriptor) arguments.
OS_CHANGES: dict[str, tuple[int, ...]] = {
    "replace": (0, 1),
    "rename": (0, 1),
    "symlink": (1,),
    "link": (0, 1),
    "unlink": (0,),
    "remove": (0,),
    "rmdir": (0,),
    "mkdir": (0,),
    "fsync": (0,),
    "write": (0,),
    "ftruncate": (0,),
}


def _path(where: Any, dir_fd: int | None = None) -> str:
    """The absolute path of a path or file descriptor argument."""
    if isinstance(where, int):
        return os.readlink(f"/proc/self/fd/{where}")
    path = os.fsdecode(where)
    if dir_fd is not None and not os.path.isabs(path):
        path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
    return os.path.abspath(path)


class Changes:
    """Calls ``hook`` before every change under ``root`` (see the module); a context."""

    def __init__(self, root: Path, hook: Hook) -> None:
        self.root = os.path.realpath(root)
        self.hook = hook
        self.count = 0
        self._lock = threading.RLock()
        self._inside_hook = False
        self._last: tuple[str, tuple[str, ...]] | None = None
        self._undo: list[tuple[Any, str, Any]] = []

    def _under(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root + os.sep)

    def change(self, kind: str, paths: tuple[str, ...]) -> None:
        """Count a change and call the hook if it is under the root (not from the hook).

        The writes of a file that follow its first one are not counted apart (a Parquet part
        is written in dozens of pieces): the first stands for them."""
        with self._lock:
            if self._inside_hook or not any(self._under(p) for p in paths):
                return
            if kind == "write" and (kind, paths) == self._last:
                return
            self._last = (kind, paths)
            self.count += 1
            self._inside_hook = True
            try:
                self.hook(kind, paths)
            finally:
                self._inside_hook = False

    def _wrap_os(self, name: str, positions: tuple[int, ...]) -> Callable[..., Any]:
        original = getattr(os, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            dir_fd = kwargs.get("dir_fd") or kwargs.get("src_dir_fd")
            paths = tuple(_path(args[i], dir_fd) for i in positions if i < len(args))
            self.change(name, paths)
            return original(*args, **kwargs)

        return call

    def _open(self) -> Callable[..., int]:
        original = os.open

        def call(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if flags & os.O_CREAT:
                self.change("create", (_path(path, kwargs.get("dir_fd")),))
            fd: int = original(path, flags, *args, **kwargs)
            return fd

        return call

    def _fdopen(self) -> Callable[..., Any]:
        original = os.fdopen
        changes = self

        def call(fd: int, *args: Any, **kwargs: Any) -> Any:
            handle = original(fd, *args, **kwargs)
            path = _path(fd)
            if changes._under(path):
                write = handle.write

                def hooked(data: Any) -> Any:
                    changes.change("write", (path,))
                    return write(data)

                handle.write = hooked
            return handle

        return call

    def _local_filesystem(self) -> type[pafs.LocalFileSystem]:
        changes = self

        class _Stream:
            """A pyarrow output stream whose writes are changes."""

            def __init__(self, stream: Any, path: str) -> None:
                self.stream, self.path = stream, path

            @property
            def closed(self) -> bool:
                return bool(self.stream.closed)

            def write(self, data: Any) -> int:
                changes.change("write", (self.path,))
                return int(self.stream.write(data))

            def tell(self) -> int:
                return int(self.stream.tell())

            def flush(self) -> None:
                self.stream.flush()

            def close(self) -> None:
                self.stream.close()

            def __enter__(self) -> _Stream:
                return self

            def __exit__(self, *exc: object) -> None:
                self.close()

        class WatchedLocalFileSystem(pafs.LocalFileSystem):  # type: ignore[misc]
            def open_output_stream(self, path: str, *args: Any, **kwargs: Any) -> Any:
                changes.change("create", (_path(path),))
                return _Stream(super().open_output_stream(path, *args, **kwargs), _path(path))

            def move(self, src: str, dest: str) -> None:
                changes.change("move", (_path(src), _path(dest)))
                super().move(src, dest)

            def delete_file(self, path: str) -> None:
                changes.change("delete_file", (_path(path),))
                super().delete_file(path)

            def delete_dir(self, path: str) -> None:
                changes.change("delete_dir", (_path(path),))
                super().delete_dir(path)

            def create_dir(self, path: str, *args: Any, **kwargs: Any) -> None:
                changes.change("create_dir", (_path(path),))
                super().create_dir(path, *args, **kwargs)

        return WatchedLocalFileSystem

    def _set(self, owner: Any, name: str, value: Any) -> None:
        self._undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def __enter__(self) -> Changes:
        for name, positions in OS_CHANGES.items():
            self._set(os, name, self._wrap_os(name, positions))
        self._set(os, "open", self._open())
        self._set(os, "fdopen", self._fdopen())
        self._set(pafs, "LocalFileSystem", self._local_filesystem())
        return self

    def __exit__(self, *exc: object) -> None:
        while self._undo:
            owner, name, value = self._undo.pop()
            setattr(owner, name, value)


#: Changes made through a file descriptor: their errors name no file, as the system's.
BY_DESCRIPTOR = frozenset({"write", "fsync", "ftruncate"})


@contextmanager
def failing_at(root: Path, number: int, code: int) -> Iterator[Changes]:
    """Changes under ``root`` where the ``number``-th one fails with the error ``code``
    (``errno.ENOSPC``: a full disk, ``errno.EIO``: a failing one), as the system reports it;
    the others go through."""

    def hook(kind: str, paths: tuple[str, ...]) -> None:
        if changes.count == number:
            if kind in BY_DESCRIPTOR:
                raise OSError(code, os.strerror(code))
            raise OSError(code, os.strerror(code), paths[-1])

    with Changes(root, hook) as changes:
        yield changes
