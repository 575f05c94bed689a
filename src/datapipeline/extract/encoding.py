"""Decoding of input files whose encoding is not declared: UTF-8 (with or without BOM),
UTF-16 with a BOM, and the Windows/ISO Western encodings still common in exported files."""

from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass

import pyarrow as pa

from datapipeline import repairs
from datapipeline.errors import BadFileError

log = logging.getLogger(__name__)

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class DecodedText:
    """A file's content as UTF-8 bytes, and the encoding it was read with."""

    data: bytes
    encoding: str

    @property
    def repaired(self) -> bool:
        """True when the file was not plain UTF-8 and had to be transcoded."""
        return self.encoding not in ("utf-8", "utf-8-sig")


def decode_to_utf8(raw: bytes, path: str) -> DecodedText:
    """Return ``raw`` as UTF-8 bytes without a BOM.

    UTF-8 is tried first (the overwhelming case, and a cheap check); a file that is not valid
    UTF-8 is read as cp1252, whose printable range is a superset of latin-1's, and as latin-1
    when it holds one of the five bytes cp1252 leaves undefined. Either way a warning names
    the file, since a guessed encoding is a repair the user should know about.
    """
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                raise BadFileError(
                    path,
                    f"byte {exc.start}: starts with a {encoding} byte-order mark "
                    "but is not valid in that encoding",
                ) from None
            if encoding == "utf-16":
                repairs.note(path, repairs.DECODED_AS + encoding, "UTF-16 file; decoded")
            return DecodedText(text.lstrip("\ufeff").encode("utf-8"), encoding)
    if is_utf8(raw):
        return DecodedText(raw, "utf-8")
    for encoding in ("cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        repairs.note(path, repairs.DECODED_AS + encoding, f"not valid UTF-8; decoded as {encoding}")
        return DecodedText(text.encode("utf-8"), encoding)
    raise AssertionError("latin-1 decodes every byte string")  # pragma: no cover


def is_utf8(data: bytes) -> bool:
    """True when ``data`` is valid UTF-8 (strict, as Python's codec: no surrogates, no overlong
    forms).

    Arrow validates the bytes in place as the one value of a string array: no copy, no ``str``
    built, several times faster than ``data.decode("utf-8")`` on large files.
    """
    offsets = pa.array([0, len(data)], pa.int64()).buffers()[1]
    value = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        value.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True
