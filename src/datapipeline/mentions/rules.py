"""The rules, in their plainest form: one value at a time, in plain Python.

This module is the statement of what the pipeline does to a value; the vectorised forms that
engines run (:mod:`~datapipeline.mentions.cleaning`, :mod:`~datapipeline.mentions.matching`,
:mod:`~datapipeline.mentions.nodes`) and their fast paths (:mod:`datapipeline.kernels`) are
property-tested against it (``tests/mentions/test_rules.py``). No engine calls it on its data.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Mapping

from datapipeline.schema import PUBLICATION_TYPES

_ESCAPED_BYTES = re.compile(r"(?:\\x[0-9A-Fa-f]{2})+")


def decode_escaped(text: str) -> str:
    """Literal ``\\xHH`` runs decoded when they form UTF-8, dropped when they do not."""

    def replace(match: re.Match[str]) -> str:
        try:
            return bytes.fromhex(match.group(0).replace("\\x", "")).decode("utf-8")
        except UnicodeDecodeError:
            return ""

    return _ESCAPED_BYTES.sub(replace, text)


def _is_space(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cc"


def clean_text(value: str | None) -> str | None:
    """A text field as published: escaped bytes decoded, trimmed, each run of white space or
    control characters one space; nothing left is no value."""
    if value is None:
        return None
    text = decode_escaped(value)
    words = "".join(" " if _is_space(c) else c for c in text).split(" ")
    cleaned = " ".join(w for w in words if w)
    return cleaned or None


#: Characters ``str.isspace`` counts that Unicode's White_Space property does not.
_SEPARATORS = "\x1c\x1d\x1e\x1f"


def is_blank(value: str | None) -> bool:
    """No value: null, empty, or white space only (Unicode's White_Space)."""
    return value is None or all(c.isspace() and c not in _SEPARATORS for c in value)


def normal_form(text: str) -> str:
    """The form titles and drug names are compared in: accents and format characters removed
    (NFKD), lower case, each run of characters that are not letters or digits one space."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if unicodedata.category(c) not in ("Mn", "Cf"))
    stripped = stripped.lower()
    kept = "".join(c if unicodedata.category(c)[0] in "LN" else " " for c in stripped)
    return " ".join(kept.split())


def mentions(title: str, name: str) -> bool:
    """Whether ``title`` mentions the drug ``name``: the name's normal form occurs in the
    title's as whole words. A name with no letter or digit mentions nothing."""
    pattern = normal_form(name)
    return bool(pattern) and f" {pattern} " in f" {normal_form(title)} "


def merge_key(kind: str, title: str, date: dt.date) -> tuple[str, str, dt.date]:
    """Two rows are one publication when this is equal: same kind, title ignoring case, date."""
    return kind, title.lower(), date


def content_hash(*parts: str) -> str:
    """The first 16 hex digits of the SHA-256 of ``parts`` joined by U+001F."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def node_id(kind: str, source_id: str | None, title: str, date: dt.date, shared: bool) -> str:
    """A publication's node id: ``<type>:<source id>``; with a hash of its kind, lower-case
    title and date when it has no id (``<type>:~<hash>``) or shares its id with another
    record of its kind (``<type>:<source id>~<hash>``)."""
    prefix = f"{PUBLICATION_TYPES[kind]}:"
    if source_id is not None and not shared:
        return prefix + source_id
    digest = content_hash(kind, title.lower(), date.isoformat())
    return f"{prefix}{source_id or ''}~{digest}"


def journal_name(spelling: str, counts: Mapping[str, int]) -> str:
    """The name shown for a journal spelled ``spelling``: among the spellings equal to it but
    for case, the most used (``counts``: publications per spelling); on a tie, the first in
    code-point order."""
    variants = [s for s in counts if s.lower() == spelling.lower()]
    return min(variants, key=lambda s: (-counts[s], s))
