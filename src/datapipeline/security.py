"""Secrets kept out of messages, and paths kept inside their roots.

Secrets (database passwords, tokens) come from the environment or from Airflow connections,
never from config files. :func:`redact` removes them from any text the pipeline shows (log and
error lines): the password of a ``scheme://user:password@host`` URL, and the value of any
environment variable whose name ends in ``_PASSWORD``, ``_TOKEN`` or ``_SECRET``.
:func:`redact_document` does it for a JSON document (the run report): value by value, never in
the bytes of the serialised text, so a secret ``601`` never turns ``150601`` into ``150***``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from datapipeline.errors import ConfigError

MASK = "***"
SECRET_SUFFIXES = ("_PASSWORD", "_TOKEN", "_SECRET")
#: ``scheme://user:password@`` — the password is anything up to the last ``@`` of the authority.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)[^/?#\s]*(?=@)")


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of the environment variables named like secrets (longest first)."""
    environ = os.environ if environ is None else environ
    values = {v for k, v in environ.items() if k.upper().endswith(SECRET_SUFFIXES) and len(v) >= 3}
    return sorted(values, key=len, reverse=True)


#: Secrets shorter than this, or made of digits only, are replaced only where they stand
#: alone: as part of a longer word or number they are some other value (``601`` in ``150601``).
WHOLE_WORD_BELOW = 8


def _secret_pattern(value: str) -> str:
    if len(value) >= WHOLE_WORD_BELOW and not value.isdigit():
        return re.escape(value)
    # not inside a word, nor inside a number (digits, or a decimal point between digits)
    before = r"(?<![0-9A-Za-z])(?<![0-9]\.)"
    after = r"(?![0-9A-Za-z])(?!\.[0-9])"
    return before + re.escape(value) + after


def _redactor(environ: Mapping[str, str] | None) -> Callable[[str], str]:
    """A function redacting one string, the secrets read from ``environ`` once."""
    values = secret_values(environ)
    secrets = re.compile("|".join(_secret_pattern(v) for v in values)) if values else None

    def redact_one(text: str) -> str:
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
        return secrets.sub(MASK, text) if secrets is not None else text

    return redact_one


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with URL passwords and secret environment values replaced by ``***`` (short
    or numeric secrets only where they stand alone, see :data:`WHOLE_WORD_BELOW`)."""
    return _redactor(environ)(text)


def redact_document(document: Any, environ: Mapping[str, str] | None = None) -> Any:
    """A copy of a JSON-like document (dicts, lists, scalars) with every string, key or value,
    redacted as :func:`redact` does; numbers, booleans and nulls are never touched."""
    redact_one = _redactor(environ)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return redact_one(value)
        if isinstance(value, dict):
            return {redact_one(k) if isinstance(k, str) else k: walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return walk(document)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts every record's formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def check_file_name(name: str, what: str) -> str:
    """``name`` must be a plain file name: no folder, no ``..``, not absolute, not hidden."""
    if (
        not name
        or name in (".", "..")
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or Path(name).is_absolute()
    ):
        raise ConfigError(
            f"invalid {what} {name!r}: expected a plain file name (no folder, no '..', not hidden)"
        )
    return name


def inside(root: Path, name: str, what: str) -> Path:
    """``root / name``, checked to stay inside ``root`` (no traversal, no symlinked escape)."""
    path = root / check_file_name(name, what)
    resolved_root = root.resolve()
    if path.resolve().parent != resolved_root:
        raise ConfigError(f"invalid {what} {name!r}: resolves outside {root}")
    return path
