"""One registry of readers by source type (``csv``, ``json``, …).

A reader turns one source (a file path, a table…) into Arrow record batches whose columns are
all strings, plus the provenance columns ``_source_file`` and ``_source_row``. Readers do not
clean or validate values: that is the cleaning stage's job, applied once for every engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import pyarrow as pa

from datapipeline.errors import ConfigError


class Reader(Protocol):
    """Reads one source into string-typed Arrow batches."""

    def __call__(self, source: str, **options: object) -> Iterator[pa.RecordBatch]: ...


_READERS: dict[str, Reader] = {}


def register(source_type: str) -> Callable[[Reader], Reader]:
    """Register ``reader`` under ``source_type`` (decorator)."""

    def decorator(reader: Reader) -> Reader:
        _READERS[source_type] = reader
        return reader

    return decorator


def get_reader(source_type: str) -> Reader:
    """The reader registered for ``source_type``; a clear error lists the known types."""
    try:
        return _READERS[source_type.lower()]
    except KeyError:
        known = ", ".join(sorted(_READERS))
        raise ConfigError(f"unknown source type {source_type!r}: expected one of {known}") from None


def source_types() -> list[str]:
    """The registered source types, sorted."""
    return sorted(_READERS)
