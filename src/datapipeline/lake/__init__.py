"""Lake stage: Parquet tables in a folder, local or ``gs://bucket/prefix``, behind one URL scheme.

A lake holds one folder per table; a table is the Parquet files (parts) in its folder, one per
imported source. Writes are atomic: a part is written under a temporary name and renamed, and a
whole table is replaced by swapping folders, so readers never see a half-written table. Where
the files live, and how storage errors read, is :mod:`datapipeline.lake.storage`.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from datapipeline.errors import LakeError
from datapipeline.lake.parts import (
    MANIFEST_SCHEMA,
    Manifest,
    SourceEntry,
    entries_of_footer,
    footer,
)
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
#: The manifest: a copy of every part's footer (see :mod:`datapipeline.lake.parts`).
MANIFEST_FILE = f"{STATE_DIR}/manifest.parquet"


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
        return sorted({table for (table, _), _info in self._visible_parts("list tables")})

    def _visible_parts(self, what: str) -> list[tuple[tuple[str, str], pafs.FileInfo]]:
        """Every visible part of every table, as ``((table, part), file info)``: Parquet files
        one level down, not hidden, in a folder with a table's name (not the state's)."""
        # Recursive: object stores (and their emulators) need not report "folders".
        selector = pafs.FileSelector(self.root, allow_not_found=True, recursive=True)
        infos = self._call(what, lambda: self._list(selector))
        found = []
        for info in infos:
            relative = info.path[len(self.root) :].strip("/").split("/")
            if (
                info.type == pafs.FileType.File
                and len(relative) == 2
                and relative[1].endswith(PARQUET_SUFFIX)
                and not relative[1].startswith(".")
                and _NAME.match(relative[0])
                and relative[0] != STATE_DIR
            ):
                found.append(((relative[0], relative[1][: -len(PARQUET_SUFFIX)]), info))
        return found

    def require_parts(self, table: str) -> list[str]:
        """:meth:`part_files`, or a clear error when the table does not exist."""
        files = self.part_files(table)
        if not files:
            raise LakeError(f"{self.url}: table {table!r} not found (run the import first)")
        return files

    def exists(self, table: str) -> bool:
        """Whether ``table`` has at least one part."""
        return bool(self.part_files(table))

    def live_parts(self, table: str) -> list[tuple[str, list[tuple[int, int]] | None]]:
        """The parts of ``table`` to read, in part-name order: each path with the row ranges
        (offset, rows) of its sources to read, or None to read it whole. The ranges leave out
        the stale copy of a source a killed run left in an older part (see
        :meth:`~datapipeline.lake.parts.Manifest.live`)."""
        manifest = self.manifest()
        parts: list[tuple[str, list[tuple[int, int]] | None]] = []
        for part, entries in manifest.live(table):
            every = manifest.parts[(table, part)][2]
            path = self.part_path(table, part)
            if entries is None or every is None or len(entries) == len(every):
                parts.append((path, None))
            elif entries:
                parts.append((path, [(e.offset, e.rows) for e in entries]))
        if not parts:
            raise LakeError(f"{self.url}: table {table!r} not found (run the import first)")
        return parts

    def part_path(self, table: str, part: str) -> str:
        """The path of part ``part`` of ``table``."""
        return f"{self.table_dir(table)}/{validate_name(part, 'part')}{PARQUET_SUFFIX}"

    def read_table(self, table: str) -> pa.Table:
        """The rows of ``table``, part after part in part-name order."""
        return pa.concat_tables(
            [self.read_part_table(path, ranges) for path, ranges in self.live_parts(table)],
            promote_options="permissive",
        )

    def read_frame(self, table: str) -> pl.DataFrame:
        """The rows of ``table`` as one Polars frame, part after part in part-name order.

        A local lake is read by Polars' own Parquet reader, several times faster than going
        through Arrow tables for string columns; other stores go through :meth:`read_table`.
        """
        if not self._local:
            return pl.from_arrow(self.read_table(table))  # type: ignore[return-value]
        parts = self.live_parts(table)
        if all(ranges is None for _, ranges in parts):
            files = [path for path, _ in parts]
            return self._call(
                f"read table {table!r}",
                lambda: pl.read_parquet(files, missing_columns="insert", glob=False),
            )
        frames = [self.read_part_frame(path, ranges) for path, ranges in parts]
        return pl.concat(frames, how="diagonal_relaxed")

    def read_part_frame(
        self, path: str, ranges: list[tuple[int, int]] | None = None
    ) -> pl.DataFrame:
        """One part (a path from :meth:`live_parts`), or its rows in ``ranges``, as a frame."""
        frame: pl.DataFrame
        if self._local:
            frame = self._call(f"read {path}", lambda: pl.read_parquet(path))
        else:
            frame = pl.DataFrame(pl.from_arrow(self._read_part(path)))
        if ranges is None:
            return frame
        return pl.concat([frame.slice(offset, rows) for offset, rows in ranges])

    def read_part_table(self, path: str, ranges: list[tuple[int, int]] | None = None) -> pa.Table:
        """One part, or its rows in ``ranges``, as an Arrow table."""
        data = self._read_part(path)
        if ranges is None:
            return data
        return pa.concat_tables([data.slice(offset, rows) for offset, rows in ranges])

    def schema(self, table: str) -> pa.Schema:
        """The Arrow schema of ``table`` (of its first part: every part has the same)."""
        files = self.require_parts(table)
        return self._call(
            f"read {self.uri(files[0])}", lambda: pq.read_schema(files[0], filesystem=self.fs)
        )

    def _read_part(self, path: str) -> pa.Table:
        return self._call(f"read {self.uri(path)}", lambda: pq.read_table(path, filesystem=self.fs))

    def write_part(
        self, table: str, part: str, data: pa.Table, entries: Sequence[SourceEntry] = ()
    ) -> str:
        """Write (or replace) one part of ``table`` atomically, naming the sources it holds
        (``entries``) in its footer; returns its path."""
        directory = self.table_dir(table)
        final = f"{directory}/{validate_name(part, 'part')}{PARQUET_SUFFIX}"
        if self._local:
            self.fs.create_dir(directory, recursive=True)
        self._write_atomically(data, directory, final, footer(entries) if entries else {})
        return final

    def _write_parquet(self, data: pa.Table, path: str, metadata: dict[str, str]) -> None:
        if not metadata:
            pq.write_table(data, path, filesystem=self.fs, **self.writer_options())
            return
        with pq.ParquetWriter(
            path, data.schema, filesystem=self.fs, **self.writer_options()
        ) as writer:
            writer.write_table(data)
            writer.add_key_value_metadata(metadata)

    def write_part_batches(
        self,
        table: str,
        part: str,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        entries: Callable[[], Sequence[SourceEntry]] | None = None,
    ) -> str:
        """Stream ``batches`` into one part of ``table``, atomically; returns its path.

        Memory stays bounded by one batch (plus the Parquet writer's row group buffer):
        each batch is written as it arrives. The part is written under a hidden temporary
        name, then renamed over the old one (on an object store: copied server-side, which
        replaces the object whole). If ``batches`` raises, the old part stays as it was and
        the temporary file is removed. ``entries`` gives, once every batch is written, the
        sources the part holds (named in its footer).
        """
        directory = self.table_dir(table)
        self._prepare_dir(directory)
        name = validate_name(part, "part")
        final = f"{directory}/{name}{PARQUET_SUFFIX}"
        temp = self._temp_part(directory, name)
        try:
            self._stream_part(temp, final, batches, schema, entries)
        except (OSError, pa.ArrowException) as exc:
            # batches cannot be read twice: no retry, one clear line
            raise self._error(exc, f"write {self.uri(final)}") from exc
        finally:
            if self.fs.get_file_info(temp).type == pafs.FileType.File:
                self.fs.delete_file(temp)
        return final

    def _stream_part(
        self,
        temp: str,
        final: str,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        entries: Callable[[], Sequence[SourceEntry]] | None,
    ) -> None:
        with pq.ParquetWriter(temp, schema, filesystem=self.fs, **self.writer_options()) as writer:
            for batch in batches:
                if batch.num_rows:
                    writer.write_batch(batch)
            if entries is not None:
                writer.add_key_value_metadata(footer(entries()))
        if self._local:
            self.fs.move(temp, final)
        else:
            # An object store has no rename; a server-side copy replaces the object whole.
            self.fs.copy_file(temp, final)

    def put_file(self, table: str, part: str, source: Path) -> str:
        """Copy the local Parquet file ``source`` as part ``part`` of ``table``, atomically
        (streamed: the file is not held in memory; a hard link when the lake is a folder on
        the same file system); returns the part's path."""
        directory = self.table_dir(table)
        name = validate_name(part, "part")
        final = f"{directory}/{name}{PARQUET_SUFFIX}"
        local = pafs.LocalFileSystem()

        def copy() -> None:
            self._prepare_dir(directory)
            # on an object store one upload is atomic; locally a temporary file is renamed
            target = final if not self._local else self._temp_part(directory, name)
            try:
                try:
                    # a local lake on the same file system shares the file (written once,
                    # then only ever replaced whole by a rename: sharing it is safe)
                    if not self._local:
                        raise OSError
                    os.link(Path(source).resolve(), target)
                except OSError:
                    pafs.copy_files(
                        str(Path(source).resolve()),
                        target,
                        source_filesystem=local,
                        destination_filesystem=self.fs,
                    )
                if self._local:
                    self.fs.move(target, final)
            finally:
                if self._local and self.fs.get_file_info(target).type == pafs.FileType.File:
                    self.fs.delete_file(target)

        self._call(f"write {self.uri(final)}", copy)
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
        data = (json.dumps(state, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
        return self.write_bytes(self.state_path(name), data)

    def delete_state(self, name: str) -> None:
        """Forget the state ``name`` (a full reload starts from nothing)."""
        path = self.state_path(name)
        if self.fs.get_file_info(path).type == pafs.FileType.File:
            self.fs.delete_file(path)

    # --- the sources the parts hold ------------------------------------------------------

    def part_entries(self, path: str) -> list[SourceEntry] | None:
        """The sources a part's footer names (None: the part names none)."""

        def read() -> list[SourceEntry] | None:
            with self.fs.open_input_file(path) as handle:
                return entries_of_footer(pq.read_metadata(handle).metadata)

        try:
            return self._call(f"read {self.uri(path)}", read)
        except LakeError as exc:
            raise LakeError(
                f"{self.uri(path)}: not a readable Parquet part ({exc}): remove it "
                "(datapipeline lake rm) or rebuild the lake (datapipeline run --full-refresh)"
            ) from None

    def manifest(self, cached: Manifest | None = None) -> Manifest:
        """The sources of every part of the lake: those of ``cached`` (default: the manifest
        the last run saved) for the parts whose size and modification time are unchanged, the
        others read from the parts' footers."""
        cached = self.saved_manifest() if cached is None else cached
        current = Manifest()
        for place, info in self._visible_parts("list the lake"):
            stamp = (info.size or 0, info.mtime_ns or 0)
            known = cached.parts.get(place)
            if known is not None and known[:2] == stamp:
                current.parts[place] = known
            else:
                current.parts[place] = (*stamp, self.part_entries(info.path))
        return current

    def saved_manifest(self) -> Manifest:
        """The manifest the last run saved (empty when none, or unreadable)."""
        path = f"{self.root}/{MANIFEST_FILE}"
        try:
            if self.fs.get_file_info(path).type != pafs.FileType.File:
                return Manifest()
            with self.fs.open_input_file(path) as handle:
                frame = pl.read_parquet(handle.read())
            if frame.schema != pl.Schema(MANIFEST_SCHEMA):
                return Manifest()
            return Manifest.from_frame(frame)
        except (OSError, pl.exceptions.PolarsError):
            log.warning("%s: unreadable manifest; reading the parts' footers", path)
            return Manifest()

    def save_manifest(self, manifest: Manifest) -> None:
        """Keep ``manifest`` for the next run (atomically)."""
        buffer = io.BytesIO()
        manifest.to_frame().write_parquet(buffer, compression="lz4")
        self.write_bytes(f"{self.root}/{MANIFEST_FILE}", buffer.getvalue())

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

    def remove_leftovers(self, table: str) -> None:
        """Delete the temporary files of parts a killed writer left in ``table`` (the caller
        is the table's one writer: a run)."""
        if not self._local:
            return  # an object store's writes leave no temporary object
        stale = re.compile(r"\..+\.[0-9a-f]{32}\.tmp")
        selector = pafs.FileSelector(self.table_dir(table), allow_not_found=True)
        for info in self.fs.get_file_info(selector):
            if stale.fullmatch(info.base_name):
                self.fs.delete_file(info.path)

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

    def _write_atomically(
        self, data: pa.Table, directory: str, final: str, metadata: dict[str, str]
    ) -> None:
        """One part: an upload on object stores, a temporary file renamed over it locally."""
        if not self._local:
            # One object upload is atomic: readers see the old object or the new one, and a
            # failed upload leaves nothing, so it can be retried as a whole.
            self._call(
                f"write {self.uri(final)}",
                lambda: self._write_parquet(data, final, metadata),
            )
            return
        part = final.rsplit("/", 1)[1][: -len(PARQUET_SUFFIX)]

        def write() -> None:
            temp = self._temp_part(directory, part)
            try:
                self._write_parquet(data, temp, metadata)
                self.fs.move(temp, final)
            finally:
                if self.fs.get_file_info(temp).type == pafs.FileType.File:
                    self.fs.delete_file(temp)

        self._call(f"write {self.uri(final)}", write)


__all__ = ["DEFAULT_RETRY", "STATE_DIR", "Lake", "RetryPolicy", "resolve", "validate_name"]
