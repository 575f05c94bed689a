"""Lake stage: Parquet tables in a folder, local or ``gs://bucket/prefix``, behind one URL scheme.

A lake holds one folder per table; a table is the Parquet files (parts) in its folder, one per
imported source. Writes are atomic: a part is written under a temporary name and renamed, and a
whole table is replaced by swapping folders, so readers never see a half-written table.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from datapipeline import retry
from datapipeline.errors import LakeError
from datapipeline.retry import is_transient

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]{0,199}$")
PARQUET_SUFFIX = ".parquet"


def validate_name(name: str, what: str) -> str:
    """Check that ``name`` is one path segment safe for a table or part name."""
    if not _NAME.match(name) or ".." in name:
        raise LakeError(
            f"invalid {what} name {name!r}: expected letters, digits, '_', '-', '.' or '=' "
            "(no path separators, no '..')"
        )
    return name


def _gcs_filesystem() -> pafs.FileSystem:
    emulator = os.environ.get("STORAGE_EMULATOR_HOST")
    if emulator:
        scheme, _, host = emulator.rpartition("://")
        return pafs.GcsFileSystem(
            anonymous=True, endpoint_override=host, scheme=scheme or "http", retry_time_limit=5
        )
    return pafs.GcsFileSystem()


def resolve(url: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and root path for a lake URL: a local folder or ``gs://bucket/prefix``."""
    if url.startswith("gs://"):
        path = url[len("gs://") :].strip("/")
        if not path:
            raise LakeError(f"invalid lake URL {url!r}: expected gs://bucket[/prefix]")
        return _gcs_filesystem(), path
    if "://" in url and not url.startswith("file://"):
        raise LakeError(f"unsupported lake URL {url!r}: expected a folder or gs://bucket/prefix")
    local = url[len("file://") :] if url.startswith("file://") else url
    return pafs.LocalFileSystem(), str(Path(local).resolve())


def _storage_operation(what: str) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Turn an ``OSError`` left after retries into one clear :class:`LakeError` line."""

    def decorator(method: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(method)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return method(*args, **kwargs)
            except OSError as exc:
                lake, target = args[0], args[1] if len(args) > 1 else ""
                kind = "transient error, gave up after retries" if is_transient(exc) else "error"
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise LakeError(f"{lake}: cannot {what} {target!r} ({kind}: {first})") from exc

        return wrapper

    return decorator


class Lake:
    """A Parquet lake rooted at ``url`` (a local folder or ``gs://bucket/prefix``).

    Every storage call goes through :data:`datapipeline.retry.DEFAULT_POLICY`: transient
    failures (network, throttling) are retried with backoff; other errors fail at once as a
    :class:`LakeError` naming the lake and the table.
    """

    def __init__(self, url: str | os.PathLike[str]) -> None:
        self.url = str(url)
        self.fs, self.root = resolve(self.url)
        self._local = isinstance(self.fs, pafs.LocalFileSystem)

    def __repr__(self) -> str:
        return f"Lake({self.url!r})"

    def __str__(self) -> str:
        return self.url

    @staticmethod
    def _io(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """One storage call, retried on transient errors."""
        return retry.DEFAULT_POLICY.call(function, *args, **kwargs)

    def _type(self, path: str) -> pafs.FileType:
        info: pafs.FileInfo = self._io(self.fs.get_file_info, path)
        return info.type

    def table_dir(self, table: str) -> str:
        """The folder of ``table`` inside the lake."""
        return f"{self.root}/{validate_name(table, 'table')}"

    def _listing(self, directory: str) -> list[pafs.FileInfo]:
        selector = pafs.FileSelector(directory, allow_not_found=True)
        infos: list[pafs.FileInfo] = self._io(self.fs.get_file_info, selector)
        return infos

    @_storage_operation("list table")
    def part_files(self, table: str) -> list[str]:
        """The table's Parquet files, sorted by name; empty when the table does not exist.

        Hidden files (a leading ``.``: temporary files of a write in progress or of a killed
        run) are never parts.
        """
        return sorted(
            i.path
            for i in self._listing(self.table_dir(table))
            if i.type == pafs.FileType.File
            and i.base_name.endswith(PARQUET_SUFFIX)
            and not i.base_name.startswith(".")
        )

    def exists(self, table: str) -> bool:
        """Whether ``table`` has at least one part."""
        return bool(self.part_files(table))

    @_storage_operation("read table")
    def read_table(self, table: str) -> pa.Table:
        """All parts of ``table`` concatenated in part-name order."""
        files = self.part_files(table)
        if not files:
            raise LakeError(f"{self.url}: table {table!r} not found (run the import first)")
        return pa.concat_tables(
            [self._io(pq.read_table, f, filesystem=self.fs) for f in files],
            promote_options="permissive",
        )

    @_storage_operation("write table")
    def write_part(self, table: str, part: str, data: pa.Table) -> str:
        """Write (or replace) one part of ``table`` atomically; returns its path."""
        directory = self.table_dir(table)
        name = validate_name(part, "part")
        self._io(self.fs.create_dir, directory, recursive=True)
        final = f"{directory}/{name}{PARQUET_SUFFIX}"
        self._write_atomically(data, directory, name, final)
        return final

    @_storage_operation("replace table")
    def replace_table(self, table: str, parts: Iterable[tuple[str, pa.Table]]) -> list[str]:
        """Replace the whole of ``table`` with ``parts`` (name, data); returns the part paths.

        Locally the new parts are written to a hidden folder that is then swapped in by
        renames; hidden folders left by a killed earlier replacement of this table are removed
        first. Object stores have no folder rename: new parts are written, then parts that
        are no longer part of the table are deleted.
        """
        final_dir = self.table_dir(table)
        if not self._local:
            written = [self.write_part(table, name, data) for name, data in parts]
            for stale in set(self.part_files(table)) - set(written):
                self._io(self.fs.delete_file, stale)
            return sorted(written)
        self._remove_stale_staging(table)
        staging = f"{self.root}/.{table}.tmp-{uuid.uuid4().hex}"
        self._io(self.fs.create_dir, staging, recursive=True)
        names = []
        for name, data in parts:
            name = validate_name(name, "part")
            self._io(pq.write_table, data, f"{staging}/{name}{PARQUET_SUFFIX}", filesystem=self.fs)
            names.append(name)
        retired = f"{self.root}/.{table}.old-{uuid.uuid4().hex}"
        if self._type(final_dir) == pafs.FileType.Directory:
            self._io(self.fs.move, final_dir, retired)
        self._io(self.fs.move, staging, final_dir)
        if self._type(retired) == pafs.FileType.Directory:
            self._io(self.fs.delete_dir, retired)
        return sorted(f"{final_dir}/{n}{PARQUET_SUFFIX}" for n in names)

    def _remove_stale_staging(self, table: str) -> None:
        """Delete ``.<table>.tmp-*`` / ``.<table>.old-*`` folders a killed run left behind."""
        stale = re.compile(rf"\.{re.escape(table)}\.(?:tmp|old)-[0-9a-f]{{32}}")
        for info in self._listing(self.root):
            if info.type == pafs.FileType.Directory and stale.fullmatch(info.base_name):
                log.info("removing %s, left by an interrupted run", info.path)
                self._io(self.fs.delete_dir, info.path)

    def _write_atomically(self, data: pa.Table, directory: str, part: str, final: str) -> None:
        if not self._local:
            # One object upload is atomic: readers see the old object or the new one.
            self._io(pq.write_table, data, final, filesystem=self.fs)
            return
        # Temporary files of this part left by a killed run are removed; other parts' are
        # not touched (another task may be writing them right now).
        stale = re.compile(rf"\.{re.escape(part)}\.[0-9a-f]{{32}}\.tmp")
        for info in self._listing(directory):
            if stale.fullmatch(info.base_name):
                self._io(self.fs.delete_file, info.path)
        temp = f"{directory}/.{part}.{uuid.uuid4().hex}.tmp"
        try:
            self._io(pq.write_table, data, temp, filesystem=self.fs)
            self._io(self.fs.move, temp, final)
        finally:
            if self.fs.get_file_info(temp).type == pafs.FileType.File:
                self.fs.delete_file(temp)


__all__ = ["Lake", "resolve", "validate_name"]
