"""Where a lake's files live: a local folder or ``gs://bucket/prefix``, behind one interface.

On Google Cloud Storage files go through pyarrow's ``GcsFileSystem``: credentials come from the
environment (Application Default Credentials: ``GOOGLE_APPLICATION_CREDENTIALS``, the file
``gcloud auth application-default login`` writes, or the metadata server), and
``STORAGE_EMULATOR_HOST`` (``http://host:port``) points it at an emulator, anonymously. Storage
errors become one-line :class:`LakeError`\\ s (bucket not found, permission denied, endpoint
unreachable); transient ones (network, 5xx, throttling) are retried with exponential backoff
before they are raised with ``transient = True``.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.fs as pafs

from datapipeline import retry as retry_module
from datapipeline.errors import LakeError
from datapipeline.retry import RetryPolicy, is_transient

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


T = TypeVar("T")


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


class Storage:
    """A folder or ``gs://`` prefix, whose calls fail in one clear line and retry when a
    retry may help."""

    def __init__(
        self, url: str | os.PathLike[str], retry: RetryPolicy | None = DEFAULT_RETRY
    ) -> None:
        self.url = str(url).rstrip("/") if str(url).startswith("gs://") else str(url)
        self._retry = retry
        self.fs, self.root = resolve(self.url, retry)
        self._local = isinstance(self.fs, pafs.LocalFileSystem)
        self._bucket_checked = self._local

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of this lake's storage calls."""
        return self._retry or retry_module.DEFAULT_POLICY

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

    def __str__(self) -> str:
        return self.url

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

    def _prepare_dir(self, directory: str) -> None:
        """Locally, create the folder; on an object store (no folders), check the bucket."""
        if self._local:
            self.fs.create_dir(directory, recursive=True)
        elif not self._bucket_checked:
            self._check_bucket()

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

    def _type(self, path: str) -> pafs.FileType:
        info: pafs.FileInfo = self._call(f"look up {path}", lambda: self.fs.get_file_info(path))
        return info.type

    def _delete_object(self, path: str) -> None:
        def delete() -> None:
            # Already gone is fine: a retried delete whose first answer was lost.
            with contextlib.suppress(FileNotFoundError):
                self.fs.delete_file(path)

        self._call(f"delete {self.uri(path)}", delete)
