"""Lake stage: Parquet tables in a folder, local or ``gs://bucket/prefix``, behind one URL scheme.

A lake holds one folder per table; a table is the Parquet files (parts) in its folder, one per
imported source. Writes are atomic: a part is written under a temporary name and renamed, and a
whole table is replaced by swapping folders, so readers never see a half-written table. Where
the files live, and how storage errors read, is :mod:`datapipeline.lake.storage`.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from collections.abc import Iterable
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from datapipeline.errors import LakeError
from datapipeline.lake.storage import DEFAULT_RETRY, Storage, resolve
from datapipeline.retry import RetryPolicy
from datapipeline.schema import SOURCE_ROW

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]{0,199}$")


PARQUET_SUFFIX = ".parquet"


#: Parquet compression by where the lake is. A local lake is a staging area written once and
#: read once per run on a local disk: uncompressed parts write about twice as fast as LZ4 ones
#: for 1.5 times the size. Over the network to an object store, bytes cost more than CPU: LZ4
#: (faster than Snappy, about as small).
LOCAL_COMPRESSION = "none"


REMOTE_COMPRESSION = "lz4"


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


class Lake(Storage):
    """A Parquet lake rooted at ``url`` (a local folder or ``gs://bucket/prefix``)."""

    def writer_options(self) -> dict[str, Any]:
        """Parquet writer options of this lake's parts: its compression; dictionaries given up
        early on columns of distinct values (titles: trying costs 20% of the write); min/max
        statistics only on the row numbers (the text columns' are never used to skip); no
        Arrow schema stored, so that text written from any Arrow layout (string, large
        string, string view) is read back by every reader as plain UTF-8 strings."""
        return {
            "compression": self.compression,
            "dictionary_pagesize_limit": 64 * 1024,
            "write_statistics": [SOURCE_ROW],
            "store_schema": False,
        }

    @property
    def compression(self) -> str:
        """The Parquet compression of this lake's parts."""
        return LOCAL_COMPRESSION if self._local else REMOTE_COMPRESSION

    def __repr__(self) -> str:
        return f"Lake({self.url!r})"

    def table_dir(self, table: str) -> str:
        """The folder of ``table`` inside the lake."""
        return f"{self.root}/{validate_name(table, 'table')}"

    def table_uri(self, table: str) -> str:
        """The URL of ``table``'s folder (``gs://bucket/prefix/table`` on GCS)."""
        return self.uri(self.table_dir(table))

    def part_files(self, table: str) -> list[str]:
        """The table's Parquet files, sorted by name; empty when the table does not exist."""
        selector = pafs.FileSelector(self.table_dir(table), allow_not_found=True)
        infos = self._call(f"list table {table!r}", lambda: self._list(selector))
        return sorted(
            i.path
            for i in infos
            if i.type == pafs.FileType.File
            and i.base_name.endswith(PARQUET_SUFFIX)
            and not i.base_name.startswith(".")
        )

    def table_names(self) -> list[str]:
        """The tables of the lake (folders holding at least one part), sorted."""
        # Recursive: object stores (and their emulators) need not report "folders".
        selector = pafs.FileSelector(self.root, allow_not_found=True, recursive=True)
        infos = self._call("list tables", lambda: self._list(selector))
        names = set()
        for info in infos:
            relative = info.path[len(self.root) :].strip("/").split("/")
            if (
                info.type == pafs.FileType.File
                and len(relative) == 2
                and relative[1].endswith(PARQUET_SUFFIX)
                and not relative[1].startswith(".")
                and _NAME.match(relative[0])
            ):
                names.add(relative[0])
        return sorted(names)

    def require_parts(self, table: str) -> list[str]:
        """:meth:`part_files`, or a clear error when the table does not exist."""
        files = self.part_files(table)
        if not files:
            raise LakeError(f"{self.url}: table {table!r} not found (run the import first)")
        return files

    def exists(self, table: str) -> bool:
        """Whether ``table`` has at least one part."""
        return bool(self.part_files(table))

    def read_table(self, table: str) -> pa.Table:
        """All parts of ``table`` concatenated in part-name order."""
        return pa.concat_tables(
            [self._read_part(f) for f in self.require_parts(table)], promote_options="permissive"
        )

    def read_frame(self, table: str) -> pl.DataFrame:
        """All parts of ``table`` as one Polars frame, in part-name order.

        A local lake is read by Polars' own Parquet reader, several times faster than going
        through Arrow tables for string columns; other stores go through :meth:`read_table`.
        """
        if not self._local:
            return pl.from_arrow(self.read_table(table))  # type: ignore[return-value]
        files = self.require_parts(table)
        return self._call(
            f"read table {table!r}",
            lambda: pl.read_parquet(files, missing_columns="insert", glob=False),
        )

    def read_part_frame(self, path: str) -> pl.DataFrame:
        """One part (a path from :meth:`part_files`) as a Polars frame."""
        if self._local:
            return self._call(f"read {path}", lambda: pl.read_parquet(path))
        return pl.from_arrow(self._read_part(path))  # type: ignore[return-value]

    def schema(self, table: str) -> pa.Schema:
        """The Arrow schema of ``table`` (of its first part: every part has the same)."""
        files = self.require_parts(table)
        return self._call(
            f"read {self.uri(files[0])}", lambda: pq.read_schema(files[0], filesystem=self.fs)
        )

    def _read_part(self, path: str) -> pa.Table:
        return self._call(f"read {self.uri(path)}", lambda: pq.read_table(path, filesystem=self.fs))

    def write_part(self, table: str, part: str, data: pa.Table) -> str:
        """Write (or replace) one part of ``table`` atomically; returns its path."""
        directory = self.table_dir(table)
        final = f"{directory}/{validate_name(part, 'part')}{PARQUET_SUFFIX}"
        if self._local:
            self.fs.create_dir(directory, recursive=True)
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
        self._prepare_dir(directory)
        name = validate_name(part, "part")
        final = f"{directory}/{name}{PARQUET_SUFFIX}"
        temp = self._temp_part(directory, name)
        try:
            self._stream_part(temp, final, batches, schema)
        except (OSError, pa.ArrowException) as exc:
            # batches cannot be read twice: no retry, one clear line
            raise self._error(exc, f"write {self.uri(final)}") from exc
        finally:
            if self.fs.get_file_info(temp).type == pafs.FileType.File:
                self.fs.delete_file(temp)
        return final

    def _stream_part(
        self, temp: str, final: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema
    ) -> None:
        with pq.ParquetWriter(temp, schema, filesystem=self.fs, **self.writer_options()) as writer:
            for batch in batches:
                if batch.num_rows:
                    writer.write_batch(batch)
        if self._local:
            self.fs.move(temp, final)
        else:
            # An object store has no rename; a server-side copy replaces the object whole.
            self.fs.copy_file(temp, final)

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
        data = (json.dumps(state, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
        return self.write_bytes(self.state_path(name), data)

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
        if not self._local:
            written = [self.write_part(table, name, data) for name, data in parts]
            for stale in sorted(set(self.part_files(table)) - set(written)):
                self._delete_object(stale)
            return sorted(written)
        return self._swap_table(table, parts)

    def _swap_table(self, table: str, parts: Iterable[tuple[str, pa.Table]]) -> list[str]:
        """Local whole-table replacement: write a hidden folder, then swap it in by renames.

        Each storage operation is retried on its own: a transient failure of one rename does
        not rewrite the parts already written.
        """
        final_dir = self.table_dir(table)
        self._remove_stale_staging(table)
        staging = f"{self.root}/.{table}.tmp-{uuid.uuid4().hex}"
        self._call(f"create {staging}", lambda: self.fs.create_dir(staging, recursive=True))
        names = []
        for name, data in parts:
            path = f"{staging}/{validate_name(name, 'part')}{PARQUET_SUFFIX}"
            self._call(
                f"write {path}",
                functools.partial(
                    pq.write_table, data, path, filesystem=self.fs, **self.writer_options()
                ),
            )
            names.append(name)
        retired = f"{self.root}/.{table}.old-{uuid.uuid4().hex}"
        if self._type(final_dir) == pafs.FileType.Directory:
            self._call(f"retire {final_dir}", lambda: self.fs.move(final_dir, retired))
        self._call(f"swap in {final_dir}", lambda: self.fs.move(staging, final_dir))
        if self._type(retired) == pafs.FileType.Directory:
            self._call(f"delete {retired}", lambda: self.fs.delete_dir(retired))
        return sorted(f"{final_dir}/{n}{PARQUET_SUFFIX}" for n in names)

    def _remove_stale_staging(self, table: str) -> None:
        """Delete ``.<table>.tmp-*`` / ``.<table>.old-*`` folders a killed run left behind."""
        stale = re.compile(rf"\.{re.escape(table)}\.(?:tmp|old)-[0-9a-f]{{32}}")
        selector = pafs.FileSelector(self.root, allow_not_found=True)
        infos = self._call(f"list {self.root}", lambda: self.fs.get_file_info(selector))
        for info in infos:
            if info.type == pafs.FileType.Directory and stale.fullmatch(info.base_name):
                log.info("removing %s, left by an interrupted run", info.path)
                self._call(f"delete {info.path}", functools.partial(self.fs.delete_dir, info.path))

    def _temp_part(self, directory: str, part: str) -> str:
        """A hidden temporary name for ``part``; this part's leftovers of a killed run are
        removed first (other parts' are not: another task may be writing them now)."""
        if self._local:
            stale = re.compile(rf"\.{re.escape(part)}\.[0-9a-f]{{32}}\.tmp")
            selector = pafs.FileSelector(directory, allow_not_found=True)
            for info in self.fs.get_file_info(selector):
                if stale.fullmatch(info.base_name):
                    self.fs.delete_file(info.path)
        return f"{directory}/.{part}.{uuid.uuid4().hex}.tmp"

    def _write_atomically(self, data: pa.Table, directory: str, final: str) -> None:
        """One part: an upload on object stores, a temporary file renamed over it locally."""
        if not self._local:
            # One object upload is atomic: readers see the old object or the new one, and a
            # failed upload leaves nothing, so it can be retried as a whole.
            self._call(
                f"write {self.uri(final)}",
                lambda: pq.write_table(data, final, filesystem=self.fs, **self.writer_options()),
            )
            return
        part = final.rsplit("/", 1)[1][: -len(PARQUET_SUFFIX)]

        def write() -> None:
            temp = self._temp_part(directory, part)
            try:
                pq.write_table(data, temp, filesystem=self.fs, **self.writer_options())
                self.fs.move(temp, final)
            finally:
                if self.fs.get_file_info(temp).type == pafs.FileType.File:
                    self.fs.delete_file(temp)

        self._call(f"write {self.uri(final)}", write)


__all__ = ["DEFAULT_RETRY", "STATE_DIR", "Lake", "RetryPolicy", "resolve", "validate_name"]
