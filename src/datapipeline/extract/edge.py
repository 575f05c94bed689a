"""The edge of the file readers: library errors on bad input become one clear project error.

A reader words the errors it expects with their position (``line 3 column 9: invalid JSON``);
:func:`guarded` is the net under them: whatever Polars, pyarrow, ``json``, ``xml.etree``,
``gzip``/``zlib``, the codecs or the operating system raise on a file they cannot read becomes
a :class:`~datapipeline.errors.BadFileError` naming the file, never a traceback. Errors of the
project pass through as they are.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator

import polars as pl
import pyarrow as pa

from datapipeline.errors import BadFileError, ConfigError, DataPipelineError
from datapipeline.extract.registry import Reader

#: What libraries raise on input they cannot read. ``ValueError`` covers ``UnicodeError``,
#: ``json.JSONDecodeError`` and ``pyarrow.ArrowInvalid``; ``LookupError`` an unknown encoding
#: named by a file; ``RecursionError`` a document nested too deeply for a recursive parser.
LIBRARY_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ValueError,
    LookupError,
    RecursionError,
    zlib.error,
    ET.ParseError,
    pa.ArrowException,
    pl.exceptions.PolarsError,
    pl.exceptions.PanicException,
)


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``, for an error line."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def guarded(reader: Reader) -> Reader:
    """``reader`` with the library errors it lets through (:data:`LIBRARY_ERRORS`) translated
    into a :class:`BadFileError` naming the source file."""

    @functools.wraps(reader)
    def read(source: str, **options: object) -> Iterator[pa.RecordBatch]:
        try:
            yield from reader(source, **options)
        except DataPipelineError:
            raise
        except LIBRARY_ERRORS as exc:
            raise BadFileError(source, f"cannot be read ({describe(exc)})") from exc

    return read


def positive_int_option(options: dict[str, object], name: str, default: int) -> int:
    """The reader option ``name`` as a positive whole number (``default`` when absent)."""
    value = options.get(name, default)
    try:
        number = int(str(value).replace("_", ""))
    except ValueError:
        number = 0
    if isinstance(value, bool) or number < 1:
        source = f"source {options['source_id']!r}: " if "source_id" in options else ""
        raise ConfigError(
            f"{source}options.{name}: expected a positive whole number, got {value!r}"
        )
    return number
