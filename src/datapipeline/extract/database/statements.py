"""What a database source reads, as SQL: a table or a query, names validated and quoted by
each dialect (no SQL can be injected through them), the watermark as a bound parameter."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datapipeline.errors import ConfigError

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Dialect


_MAX_IDENTIFIER = 128
#: A table or column name: word characters and ``$``, with single inner spaces or hyphens
#: (``Order Details``); no quotes, semicolons, dots, comment markers or control characters.
_IDENTIFIER = re.compile(r"^(?!\d)[\w$]+(?:[ -][\w$]+)*$")
_QUERY = re.compile(r"^\s*\(?\s*(select|with)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """What a database source reads: a table (with optional schema) or a query."""

    table: str | None = None
    schema: str | None = None
    query: str | None = None

    @property
    def label(self) -> str:
        """A short name for provenance: ``schema.table`` or ``query``."""
        if self.query is not None:
            return "query"
        return f"{self.schema}.{self.table}" if self.schema else str(self.table)


def validate_identifier(name: str, what: str) -> str:
    """Check one table, schema or column name; hostile names are refused before any SQL."""
    if not name or len(name) > _MAX_IDENTIFIER or not _IDENTIFIER.match(name):
        raise ConfigError(
            f"invalid {what} name {name!r}: expected letters, digits, '_' or '$' "
            "(inner single spaces or '-' allowed), not starting with a digit, at most "
            f"{_MAX_IDENTIFIER} characters"
        )
    return name


def parse_target(source: str) -> Target:
    """``SELECT …``/``WITH …`` is a query; otherwise ``table`` or ``schema.table``."""
    text = source.strip()
    if _QUERY.match(text):
        return Target(query=text.rstrip(" \t\r\n;"))
    parts = text.split(".")
    if len(parts) > 2:
        raise ConfigError(
            f"invalid table {source!r}: expected table or schema.table (or a SELECT query)"
        )
    table = validate_identifier(parts[-1], "table")
    schema = validate_identifier(parts[0], "schema") if len(parts) == 2 else None
    return Target(table=table, schema=schema)


def build_select(
    target: Target,
    columns: Sequence[str] | None = None,
    watermark: str | None = None,
    incremental: bool = False,
    since: object = None,
) -> sa.Select[Any]:
    """The SELECT statement of a source; ``:since`` bounds the watermark when incremental.

    Names are SQLAlchemy ``quoted_name`` objects: each dialect's preparer quotes them when
    needed (reserved words, capitals, spaces), with its own quoting (``"x"``, `` `x` ``,
    ``[x]``). A query is wrapped as a subquery, its colons kept literal.
    """
    import sqlalchemy as sa

    wanted = [validate_identifier(c, "column") for c in columns or []]
    if watermark is not None:
        validate_identifier(watermark, "watermark column")
    names = list(dict.fromkeys([*wanted, *([watermark] if watermark else [])]))
    from_: Any
    if target.query is not None:
        # Colons would otherwise be read as bind parameters (e.g. '10:30' in a literal).
        text = sa.text(target.query.replace(":", r"\:")).columns(*[sa.column(c) for c in names])
        from_ = text.subquery("src")
    else:
        from_ = sa.table(
            sa.sql.quoted_name(str(target.table), None),
            *[sa.column(sa.sql.quoted_name(c, None)) for c in names],
            schema=sa.sql.quoted_name(target.schema, None) if target.schema else None,
        )
    selected = [from_.c[c] for c in wanted] if wanted else [sa.text("*")]
    wm_column = from_.c[watermark] if watermark else None
    statement = sa.select(*selected).select_from(from_)
    if incremental and wm_column is not None:
        # typed by the value when given (so it can also be rendered as a literal)
        statement = statement.where(wm_column > sa.bindparam("since", since))
    return statement


def compile_sql(statement: sa.Select[Any], dialect: Dialect) -> str:
    """The SQL text of ``statement`` in ``dialect`` (parameters stay placeholders)."""
    return str(statement.compile(dialect=dialect))
