"""Fast paths for text rules that change few values: find the rows a rule may change, rewrite
only those.

Each helper takes the rule itself (a Polars expression or a Python function on one value) and
gives what applying it to every row gives (property-tested: ``tests/kernels/test_text.py``);
the cheap tests (:func:`may_need_squash`, :func:`blank_values`) are supersets or exact
equivalents of the rules' own tests, decided on bytes or on a string's first characters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow.compute as pc


def map_rare_values(
    frame: pl.DataFrame, column: str, needs: pl.Expr, function: Callable[[str], str]
) -> pl.DataFrame:
    """Apply a Python ``function`` to the distinct values of ``column`` selected by ``needs``.

    For rules that Polars cannot express but that touch few values: each distinct value is
    computed once, and only the values it changes are replaced (in the rows that hold them).
    """
    rare = frame.filter(needs).get_column(column).drop_nulls().unique()
    if rare.is_empty():
        return frame
    old = rare.to_list()
    new = [function(v) for v in old]
    return replace_values(frame, column, old, new)


def replace_values(
    frame: pl.DataFrame, column: str, old: list[Any], new: list[Any]
) -> pl.DataFrame:
    """``column`` with each value of ``old`` replaced by the one at its position in ``new``
    (distinct old values); the rows that hold none of the values that change are not touched,
    and the frame is returned as it is when no value changes."""
    changed = [(o, n) for o, n in zip(old, new, strict=True) if o != n]
    if not changed:
        return frame
    values = frame.get_column(column)
    before, after = zip(*changed, strict=True)
    rows = values.is_in(pl.Series(before, dtype=values.dtype).implode()).arg_true()
    fixed = values.gather(rows).replace(list(before), list(after))
    return frame.with_columns(values.clone().scatter(rows, fixed).alias(column))


def on_some_rows(
    frame: pl.DataFrame, column: str, needs: pl.Series, rule: Callable[[pl.Expr], pl.Expr]
) -> pl.DataFrame:
    """Apply the expression ``rule`` to ``column`` only in the rows selected by ``needs``.

    The same result as applying it everywhere when it leaves the other rows unchanged; but
    rewriting a million titles (a regex replace allocates every string anew) costs several
    times a search that finds the few rows to rewrite.
    """
    rows = needs.fill_null(False).arg_true()
    if rows.is_empty():
        return frame
    values = frame.get_column(column)
    fixed = pl.select(rule(pl.lit(values.gather(rows)))).to_series()
    return frame.with_columns(values.clone().scatter(rows, fixed).alias(column))


def on_distinct_values(
    frame: pl.DataFrame, column: str, rule: Callable[[pl.Expr], pl.Expr], alias: str
) -> pl.DataFrame:
    """Compute ``rule(column)`` once per distinct value and map it back into ``alias``.

    For columns with few distinct values: a million rows carry a few thousand dates and a few
    hundred journals, and cleaning those costs a fraction of cleaning every row. A rule that
    rewrites ``column`` in place (``alias == column``, same type) changes only the rows whose
    value it changes; otherwise the results are joined back to every row.
    """
    distinct = frame.select(pl.col(column).unique())
    mapping = distinct.with_columns(rule(pl.col(column)).alias("_mapped"))
    in_place = alias == column and mapping.schema["_mapped"] == mapping.schema[column]
    if in_place and mapping.filter(pl.col(column).is_null())["_mapped"].is_null().all():
        values = mapping.filter(pl.col(column).is_not_null())
        old, new = values.get_column(column).to_list(), values.get_column("_mapped").to_list()
        return replace_values(frame, column, old, new)
    mapped = frame.select(column).join(
        mapping, on=column, how="left", nulls_equal=True, maintain_order="left"
    )
    return frame.with_columns(mapped.get_column("_mapped").alias(alias))


def may_need_squash(values: pl.Series) -> pl.Series:
    """Whether :func:`squash_whitespace` may change each value (beyond '' → null): a superset of
    the values :data:`_NEEDS_SQUASH` finds, several times cheaper on long text.

    A value of printable ASCII only (Arrow's ``ascii_is_printable``, a byte test) has no white
    space but plain spaces and no control character: only a space at either end or two in a
    row change it. Any other value (non-ASCII, control characters) is let through.
    """
    array = values.to_arrow()
    odd = pl.Series(pc.invert(pc.ascii_is_printable(array)))
    spaces = (
        values.str.contains("  ", literal=True)
        | values.str.starts_with(" ")
        | values.str.ends_with(" ")
    )
    return (odd | spaces).fill_null(False).alias(values.name)


def blank_values(values: pl.Series) -> pl.Series:
    """Whether each value is null, empty or white space only.

    A value whose first character is printable ASCII other than the space is not blank: two
    comparisons with a string decide most values without reading their text (a string view
    holds its first bytes inline); an anchored regex decides the others.
    """
    decided = ((values >= "!") & (values < "\x7f")).fill_null(False)
    rows = (~decided).arg_true()
    blank = pl.zeros(len(values), dtype=pl.Boolean, eager=True)
    if rows.is_empty():
        return blank
    others = values.gather(rows)
    return blank.scatter(rows, others.is_null() | others.str.contains(r"^\s*$"))
