"""Access to the analytics SQL queries shipped inside the package.

The canonical ``.sql`` files live in ``datapipeline/sql/`` so that they are part of
the wheel; the repository's top-level ``sql_queries/`` folder only holds symlinks to
them. Queries are addressed by file stem, e.g. ``load_query("query_1")``.
"""

from __future__ import annotations

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
