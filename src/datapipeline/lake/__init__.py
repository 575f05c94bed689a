"""Lake stage: Parquet tables in a folder, local or ``gs://bucket/prefix``, behind one URL scheme.

A lake holds one folder per table; a table is the Parquet files (parts) in its folder, one per
imported source. Writes are atomic: a part is written under a temporary name and renamed, and a
whole table is replaced by swapping folders, so readers never see a half-written table.

On Google Cloud Storage the lake goes through pyarrow's ``GcsFileSystem``: credentials come from
the environment (Application Default Credentials: ``GOOGLE_APPLICATION_CREDENTIALS``, the file
``gcloud auth application-default login`` writes, or the metadata server), and
``STORAGE_EMULATOR_HOST`` (``http://host:port``) points it at an emulator, anonymously. Storage
errors become one-line :class:`LakeError`\\ s (bucket not found, permission denied, endpoint
unreachable); transient ones (network, 5xx, throttling) are retried with exponential backoff
before they are raised with ``transient = True``.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from datapipeline import retry as retry_module
from datapipeline.errors import LakeError
from datapipeline.retry import RetryPolicy, is_transient
from datapipeline.schema import SOURCE_ROW

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=-]{0,199}$")
PARQUET_SUFFIX = ".parquet"
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"

T = TypeVar("T")
#: Parquet compression by where the lake is. A local lake is a staging area written once and
#: read once per run on a local disk: uncompressed parts write about twice as fast as LZ4 ones
#: (a million titles: 0.10 s against 0.24 s) for 1.5 times the size. Over the network to an
#: object store, bytes cost more than CPU: LZ4 (faster than Snappy, about as small).
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


#: Storage calls retry with :data:`datapipeline.retry.DEFAULT_POLICY` unless a lake is given
#: its own policy (looked up at call time, so tests can swap the default).
DEFAULT_RETRY: RetryPolicy | None = None

# google-cloud-cpp status codes (in pyarrow's messages) that may succeed when retried.
_TRANSIENT_CODES = frozenset(
    {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL", "ABORTED", "UNKNOWN"}
)
_STATUS = re.compile(r"Status\((?P<code>[A-Z_]+): (?P<message>.*?)(?: error_info=\{|\)$|$)", re.S)
_RETRY_PREFIX = re.compile(r"^(Permanent error|Retry policy exhausted), with a last message of ")
_NO_CREDENTIALS = "Could not create a OAuth2 access token"
_CREDENTIALS_HINT = (
    "no usable Google credentials: run 'gcloud auth application-default login' or set "
    "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file"
)


def _status(exc: BaseException) -> tuple[str, str]:
    """The storage status code and a one-line message of a pyarrow filesystem error."""
    text = " ".join(str(exc).split())
    match = _STATUS.search(text)
    if not match:
        code = "PERMISSION_DENIED" if isinstance(exc, PermissionError) else ""
        if isinstance(exc, FileNotFoundError):
            code = "NOT_FOUND"
        return code, text
    message = match["message"].strip()
    message = _RETRY_PREFIX.sub("", message)
    return match["code"], message[:240]


def _emulator_host() -> str | None:
    return os.environ.get(EMULATOR_ENV) or None


def _gcs_filesystem(retry: RetryPolicy | None) -> pafs.FileSystem:
    policy = retry or retry_module.DEFAULT_POLICY
    limit = datetime.timedelta(seconds=policy.request_seconds)
    emulator = _emulator_host()
    if emulator:
        scheme, _, host = emulator.rstrip("/").rpartition("://")
        return pafs.GcsFileSystem(
            anonymous=True,
            endpoint_override=host,
            scheme=scheme or "http",
            retry_time_limit=limit,
        )
    # Application Default Credentials, found by the storage client itself.
    return pafs.GcsFileSystem(retry_time_limit=limit)


def resolve(url: str, retry: RetryPolicy | None = DEFAULT_RETRY) -> tuple[pafs.FileSystem, str]:
    """The filesystem and root path for a lake URL: a local folder or ``gs://bucket/prefix``."""
    if url.startswith("gs://"):
        path = url[len("gs://") :].strip("/")
        if not path or path.startswith("/") or "//" in path:
            raise LakeError(f"invalid lake URL {url!r}: expected gs://bucket[/prefix]")
        return _gcs_filesystem(retry), path
    if "://" in url and not url.startswith("file://"):
        raise LakeError(f"unsupported lake URL {url!r}: expected a folder or gs://bucket/prefix")
    local = url[len("file://") :] if url.startswith("file://") else url
    return pafs.LocalFileSystem(), str(Path(local).resolve())


class Lake:
    """A Parquet lake rooted at ``url`` (a local folder or ``gs://bucket/prefix``)."""

    def __init__(
        self, url: str | os.PathLike[str], retry: RetryPolicy | None = DEFAULT_RETRY
    ) -> None:
        self.url = str(url).rstrip("/") if str(url).startswith("gs://") else str(url)
        self._retry = retry
        self.fs, self.root = resolve(self.url, retry)
        self._local = isinstance(self.fs, pafs.LocalFileSystem)
        self._bucket_checked = self._local

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

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of this lake's storage calls."""
        return self._retry or retry_module.DEFAULT_POLICY

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"Lake({self.url!r})"

    @property
    def is_gcs(self) -> bool:
        """Whether the lake is on Google Cloud Storage (or its emulator)."""
        return not self._local

    @property
    def bucket(self) -> str | None:
        """The bucket of a ``gs://`` lake; ``None`` for a local one."""
        return None if self._local else self.root.split("/", 1)[0]

    def uri(self, path: str) -> str:
        """The URL of a path returned by this lake (``gs://…`` on GCS, the path locally)."""
        return path if self._local else f"gs://{path}"

    def table_dir(self, table: str) -> str:
        """The folder of ``table`` inside the lake."""
        return f"{self.root}/{validate_name(table, 'table')}"

    def table_uri(self, table: str) -> str:
        """The URL of ``table``'s folder (``gs://bucket/prefix/table`` on GCS)."""
        return self.uri(self.table_dir(table))

    # --- storage calls: one-line errors, retries on transient ones -------------------------

    def _error(self, exc: BaseException, doing: str) -> LakeError:
        code, message = _status(exc)
        where = self.url
        if _NO_CREDENTIALS in message:
            return LakeError(f"{where}: cannot {doing}: {_CREDENTIALS_HINT}")
        if code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
            return LakeError(
                f"{where}: permission denied to {doing} ({code}): the credentials in use need "
                f"read and write access to objects of bucket {self.bucket!r} "
                "(e.g. roles/storage.objectAdmin)"
                if self.is_gcs
                else f"{where}: permission denied to {doing}: {message}"
            )
        if code == "NOT_FOUND" and self.is_gcs and not self._bucket_exists_or_unknown():
            return self._missing_bucket()
        error = LakeError(f"{where}: cannot {doing}: {code + ': ' if code else ''}{message}")
        error.transient = is_transient(exc)
        if self.is_gcs and (code in _TRANSIENT_CODES or isinstance(exc, TimeoutError)):
            endpoint = _emulator_host() or "Cloud Storage"
            error = LakeError(
                f"{where}: storage endpoint {endpoint} unreachable or failing while trying to "
                f"{doing}, after {self.retry.attempts} attempts ({code}: {message})"
            )
            error.transient = True
        return error

    def _missing_bucket(self) -> LakeError:
        return LakeError(
            f"{self.url}: bucket {self.bucket!r} not found: create it "
            f"(gcloud storage buckets create gs://{self.bucket}) or fix the lake URL"
        )

    def _bucket_exists_or_unknown(self) -> bool:
        """False only when the bucket is known not to exist (no permission: unknown)."""
        try:
            info = self.fs.get_file_info(self.bucket or "")
        except OSError:
            return True
        return info.type != pafs.FileType.NotFound

    def _call(self, doing: str, action: Callable[[], T]) -> T:
        """Run one storage call; retry transient failures with backoff, raise a LakeError."""
        if not self._bucket_checked:
            self._check_bucket()

        def attempt() -> T:
            try:
                return action()
            except LakeError:
                raise
            except (OSError, pa.ArrowException) as exc:
                raise self._error(exc, doing) from exc

        try:
            return self.retry.call(attempt)
        except LakeError as exc:
            if exc.transient and not self.is_gcs:  # gs:// messages already say so
                error = LakeError(f"{exc} (gave up after {self.retry.attempts} attempts)")
                error.transient = True
                raise error from exc
            raise

    def _check_bucket(self) -> None:
        """Fail early, with a clear line, when a gs:// lake's bucket does not exist."""
        bucket = self.bucket or ""

        def lookup() -> pafs.FileInfo | None:
            try:
                return self.fs.get_file_info(bucket)
            except PermissionError:
                return None  # object-level roles cannot read bucket metadata: objects will tell

        self._bucket_checked = True  # the lookup below goes through _call
        try:
            info = self._call(f"look up bucket {bucket!r}", lookup)
        except LakeError:
            self._bucket_checked = False
            raise
        if info is not None and info.type == pafs.FileType.NotFound:
            self._bucket_checked = False
            raise self._missing_bucket()

    # --- tables ------------------------------------------------------------------------------

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

    def _list(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        """List ``selector``, tolerating folders and files that appear or vanish meanwhile.

        Arrow lists a folder and, when that fails, checks whether it exists: a folder created
        in between (a part being written on the writer thread) then fails the listing as
        "not found", and a temporary file renamed away mid-listing fails its stat. Both are
        races with our own writers, so the listing is taken again.
        """
        for _ in range(4):
            try:
                return self.fs.get_file_info(selector)
            except FileNotFoundError:
                continue
        return self.fs.get_file_info(selector)

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

    def _prepare_dir(self, directory: str) -> None:
        """Locally, create the folder; on an object store (no folders), check the bucket."""
        if self._local:
            self.fs.create_dir(directory, recursive=True)
        elif not self._bucket_checked:
            self._check_bucket()

    def write_state(self, name: str, state: dict[str, Any]) -> str:
        """Write the JSON state ``name`` atomically (temp file + rename; one upload on gs://)."""
        data = (json.dumps(state, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
        return self.write_bytes(self.state_path(name), data)

    def write_bytes(self, path: str, data: bytes) -> str:
        """Write ``data`` to ``path`` (under the lake root) atomically; returns the path."""
        directory = path.rsplit("/", 1)[0]
        self._prepare_dir(directory)
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

    def _type(self, path: str) -> pafs.FileType:
        info: pafs.FileInfo = self._call(f"look up {path}", lambda: self.fs.get_file_info(path))
        return info.type

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

    def _delete_object(self, path: str) -> None:
        def delete() -> None:
            # Already gone is fine: a retried delete whose first answer was lost.
            with contextlib.suppress(FileNotFoundError):
                self.fs.delete_file(path)

        self._call(f"delete {self.uri(path)}", delete)

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
