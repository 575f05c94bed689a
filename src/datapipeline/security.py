"""Secrets kept out of messages, and paths kept inside their roots.

Secrets (database passwords, tokens) come from the environment or from Airflow connections,
never from config files. :func:`redact` removes them from any text the pipeline shows or
writes: the password of a ``scheme://user:password@host`` URL, and the value of any
environment variable whose name ends in ``_PASSWORD``, ``_TOKEN`` or ``_SECRET``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

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


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with URL passwords and secret environment values replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    for value in secret_values(environ):
        text = text.replace(value, MASK)
    return text


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
