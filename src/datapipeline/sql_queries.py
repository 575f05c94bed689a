"""Access to the analytics SQL queries shipped inside the package.

The canonical ``.sql`` files live in ``datapipeline/sql/`` so that they are part of
the wheel; the repository's top-level ``sql_queries/`` folder only holds symlinks to
them. Queries are addressed by file stem, e.g. ``load_query("query_1")``.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable

_SQL_PACKAGE = "datapipeline"
_SQL_FOLDER = "sql"
_SUFFIX = ".sql"


def _sql_dir() -> Traversable:
    return resources.files(_SQL_PACKAGE).joinpath(_SQL_FOLDER)


def known_queries() -> list[str]:
    """Names (file stems) of the queries shipped with the package, sorted."""
    return sorted(
        entry.name.removesuffix(_SUFFIX)
        for entry in _sql_dir().iterdir()
        if entry.is_file() and entry.name.endswith(_SUFFIX)
    )


def load_query(name: str) -> str:
    """Return the text of the shipped query ``name`` (e.g. ``"query_1"``).

    Raises ``ValueError`` listing the known names when ``name`` is not one of them,
    which also rejects anything that looks like a path.
    """
    known = known_queries()
    if name not in known:
        raise ValueError(f"unknown SQL query {name!r}; known queries: {', '.join(known)}")
    return _sql_dir().joinpath(name + _SUFFIX).read_text(encoding="utf-8")


#: A query parameter as the shipped files write it: ``$name`` (DuckDB's own syntax).
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def parameters(text: str) -> list[str]:
    """Names of the parameters (``$name``) of query ``text``, in order of first use."""
    return list(dict.fromkeys(_PARAMETER.findall(text)))


def bind(text: str, style: str) -> str:
    """Query ``text`` with its ``$name`` parameters written for another engine: ``bigquery``
    (``@name``, bound as query parameters) or ``psql`` (``:'name'``, a psql variable quoted
    as a literal by psql); ``duckdb`` keeps ``$name``."""
    spelling = {"duckdb": "$\\1", "bigquery": "@\\1", "psql": ":'\\1'"}
    try:
        return _PARAMETER.sub(spelling[style], text)
    except KeyError:
        raise ValueError(f"unknown parameter style {style!r}") from None
