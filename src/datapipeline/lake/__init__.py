"""Lake stage: Parquet tables in a folder, local or ``gs://bucket/prefix``, behind one URL scheme.

A lake holds one folder per table; a table is the Parquet files (parts) in its folder, one per
imported source. Writes are atomic: a part is written under a temporary name and renamed, and a
whole table is replaced by swapping folders, so readers never see a half-written table.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from datapipeline.errors import LakeError

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]{0,199}$")
PARQUET_SUFFIX = ".parquet"
#: Folder of the lake holding small JSON state files (incremental watermarks), not a table.
STATE_DIR = "_state"


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


class Lake:
    """A Parquet lake rooted at ``url`` (a local folder or ``gs://bucket/prefix``)."""

    def __init__(self, url: str | os.PathLike[str]) -> None:
        self.url = str(url)
        self.fs, self.root = resolve(self.url)
        self._local = isinstance(self.fs, pafs.LocalFileSystem)

    def __repr__(self) -> str:
        return f"Lake({self.url!r})"

    def table_dir(self, table: str) -> str:
        """The folder of ``table`` inside the lake."""
        return f"{self.root}/{validate_name(table, 'table')}"

    def part_files(self, table: str) -> list[str]:
        """The table's Parquet files, sorted by name; empty when the table does not exist."""
        selector = pafs.FileSelector(self.table_dir(table), allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        return sorted(
            i.path
            for i in infos
            if i.type == pafs.FileType.File
            and i.base_name.endswith(PARQUET_SUFFIX)
            and not i.base_name.startswith(".")
        )

    def exists(self, table: str) -> bool:
        """Whether ``table`` has at least one part."""
        return bool(self.part_files(table))

    def read_table(self, table: str) -> pa.Table:
        """All parts of ``table`` concatenated in part-name order."""
        files = self.part_files(table)
        if not files:
            raise LakeError(f"{self.url}: table {table!r} not found (run the import first)")
        return pa.concat_tables(
            [pq.read_table(f, filesystem=self.fs) for f in files], promote_options="default"
        )

    def write_part(self, table: str, part: str, data: pa.Table) -> str:
        """Write (or replace) one part of ``table`` atomically; returns its path."""
        directory = self.table_dir(table)
        self.fs.create_dir(directory, recursive=True)
        final = f"{directory}/{validate_name(part, 'part')}{PARQUET_SUFFIX}"
        self._write_atomically(data, directory, final)
        return final

    def write_part_batches(
        self, table: str, part: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema
    ) -> str:
        """Stream ``batches`` into one part of ``table``, atomically; returns its path.

        Memory stays bounded by one batch (plus the Parquet writer's row group buffer):
        each batch is written as it arrives. The part is written under a hidden temporary
        name, then renamed over the old one (on an object store: copied server-side, which
        replaces the object whole). If ``batches`` raises, the old part stays as it was and
        the temporary file is removed.
        """
        directory = self.table_dir(table)
        self.fs.create_dir(directory, recursive=True)
        final = f"{directory}/{validate_name(part, 'part')}{PARQUET_SUFFIX}"
        temp = f"{directory}/.{uuid.uuid4().hex}.tmp"
        try:
            with pq.ParquetWriter(temp, schema, filesystem=self.fs) as writer:
                for batch in batches:
                    if batch.num_rows:
                        writer.write_batch(batch)
            if self._local:
                self.fs.move(temp, final)
            else:
                # An object store has no rename; a server-side copy replaces the object whole.
                self.fs.copy_file(temp, final)
        finally:
            if self.fs.get_file_info(temp).type == pafs.FileType.File:
                self.fs.delete_file(temp)
        return final

    def delete_part(self, table: str, part: str) -> None:
        """Remove one part of ``table``, if it exists."""
        path = f"{self.table_dir(table)}/{validate_name(part, 'part')}{PARQUET_SUFFIX}"
        if self.fs.get_file_info(path).type == pafs.FileType.File:
            self.fs.delete_file(path)

    def state_path(self, name: str) -> str:
        """Where the state file ``name`` lives: ``<lake>/_state/<name>.json``."""
        return f"{self.root}/{STATE_DIR}/{validate_name(name, 'state')}.json"

    def read_state(self, name: str) -> dict[str, Any] | None:
        """The JSON state ``name``, or None when it was never written."""
        path = self.state_path(name)
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with self.fs.open_input_stream(path) as stream:
            raw = stream.read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LakeError(f"{self.url}: state file {path} is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise LakeError(f"{self.url}: state file {path}: expected a JSON object")
        return data

    def write_state(self, name: str, state: dict[str, Any]) -> str:
        """Write the JSON state ``name`` atomically (temp file + rename; one upload on gs://)."""
        path = self.state_path(name)
        directory = path.rsplit("/", 1)[0]
        self.fs.create_dir(directory, recursive=True)
        data = (json.dumps(state, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
        target = path if not self._local else f"{directory}/.{uuid.uuid4().hex}.tmp"
        try:
            with self.fs.open_output_stream(target) as stream:
                stream.write(data)
            if self._local:
                self.fs.move(target, path)
        finally:
            if self._local and self.fs.get_file_info(target).type == pafs.FileType.File:
                self.fs.delete_file(target)
        return path

    def delete_state(self, name: str) -> None:
        """Forget the state ``name`` (a full reload starts from nothing)."""
        path = self.state_path(name)
        if self.fs.get_file_info(path).type == pafs.FileType.File:
            self.fs.delete_file(path)

    def replace_table(self, table: str, parts: Iterable[tuple[str, pa.Table]]) -> list[str]:
        """Replace the whole of ``table`` with ``parts`` (name, data); returns the part paths.

        Locally the new parts are written to a hidden folder that is then swapped in by
        renames. Object stores have no folder rename: new parts are written, then parts that
        are no longer part of the table are deleted.
        """
        final_dir = self.table_dir(table)
        if not self._local:
            written = [self.write_part(table, name, data) for name, data in parts]
            for stale in set(self.part_files(table)) - set(written):
                self.fs.delete_file(stale)
            return sorted(written)
        staging = f"{self.root}/.{table}.tmp-{uuid.uuid4().hex}"
        self.fs.create_dir(staging, recursive=True)
        names = []
        for name, data in parts:
            name = validate_name(name, "part")
            pq.write_table(data, f"{staging}/{name}{PARQUET_SUFFIX}", filesystem=self.fs)
            names.append(name)
        retired = f"{self.root}/.{table}.old-{uuid.uuid4().hex}"
        if self.fs.get_file_info(final_dir).type == pafs.FileType.Directory:
            self.fs.move(final_dir, retired)
        self.fs.move(staging, final_dir)
        if self.fs.get_file_info(retired).type == pafs.FileType.Directory:
            self.fs.delete_dir(retired)
        return sorted(f"{final_dir}/{n}{PARQUET_SUFFIX}" for n in names)

    def _write_atomically(self, data: pa.Table, directory: str, final: str) -> None:
        if not self._local:
            # One object upload is atomic: readers see the old object or the new one.
            pq.write_table(data, final, filesystem=self.fs)
            return
        temp = f"{directory}/.{uuid.uuid4().hex}.tmp"
        try:
            pq.write_table(data, temp, filesystem=self.fs)
            self.fs.move(temp, final)
        finally:
            if self.fs.get_file_info(temp).type == pafs.FileType.File:
                self.fs.delete_file(temp)


__all__ = ["STATE_DIR", "Lake", "resolve", "validate_name"]
