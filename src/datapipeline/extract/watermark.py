"""Incremental database extraction: a watermark column per source, its last value in the lake.

The state of source ``S`` is ``<lake>/_state/S.json``::

    {"source_id": "S", "table": "pubmed", "watermark_column": "updated_at",
     "watermark": {"type": "datetime", "value": "2024-05-01T10:00:00"},
     "parts": ["S", "S-3f2a9c0b1d4e"]}

A first run (or ``--full-reload``) reads everything into part ``S``. A rerun reads only the
rows whose watermark is greater than the stored value, into a new part named after that
value's hash (``S-<hash>``), so earlier rows are kept. The part is written first, the state
second, each atomically: a crash between the two leaves the old state, and the rerun reads the
same rows again into the same part name, overwriting it — no row is lost or doubled.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from datapipeline.errors import ConfigError, LakeError
from datapipeline.lake import Lake


def encode_value(value: object) -> dict[str, str]:
    """A watermark value as typed JSON, so it binds back with its own type."""
    if isinstance(value, bool):
        raise ConfigError("a boolean column cannot be a watermark")
    if isinstance(value, int):
        return {"type": "int", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": repr(value)}
    if isinstance(value, decimal.Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, dt.datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    raise ConfigError(
        f"watermark values of type {type(value).__name__} are not supported "
        "(use a number, date, timestamp or text column)"
    )


def decode_value(data: dict[str, Any]) -> object:
    """The inverse of :func:`encode_value`."""
    kind, text = data.get("type"), data.get("value")
    if not isinstance(text, str):
        raise LakeError(f"invalid watermark in state: {data!r}")
    parsers: dict[str, Any] = {
        "int": int,
        "float": float,
        "decimal": decimal.Decimal,
        "datetime": dt.datetime.fromisoformat,
        "date": dt.date.fromisoformat,
        "str": str,
    }
    if kind not in parsers:
        raise LakeError(f"invalid watermark type in state: {kind!r}")
    try:
        return parsers[kind](text)
    except (ValueError, decimal.InvalidOperation):
        raise LakeError(f"invalid watermark value in state: {data!r}") from None


def _max(values: Sequence[object] | pa.Array) -> object:
    try:
        array = values if isinstance(values, pa.Array) else pa.array(values)
        if not pa.types.is_null(array.type):
            high = pc.max(array)
            if high.is_valid:
                return high.as_py()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        pass
    if isinstance(values, pa.Array):
        values = values.to_pylist()
    present = [v for v in values if v is not None]
    return max(present) if present else None  # type: ignore[type-var]


@dataclass
class WatermarkTracker:
    """The bound a reader applies (``since``) and the largest value it saw (``high``)."""

    column: str
    since: object = None
    high: object = field(default=None)

    def observe(self, values: Sequence[object] | pa.Array) -> None:
        """Fold one chunk's watermark values into ``high`` (nulls ignored)."""
        chunk_high = _max(values)
        if chunk_high is None:
            return
        if self.high is None or chunk_high > self.high:  # type: ignore[operator]
            self.high = chunk_high

    @property
    def last(self) -> object:
        """The value to store: the largest seen, else the bound used."""
        return self.high if self.high is not None else self.since


def part_for(source_id: str, since: object) -> str:
    """The part a batch goes to: ``S`` for a full load, ``S-<hash of the bound>`` after."""
    if since is None:
        return source_id
    key = json.dumps(encode_value(since), sort_keys=True).encode()
    return f"{source_id}-{hashlib.sha256(key).hexdigest()[:12]}"


@dataclass
class IncrementalRun:
    """One incremental import of a source: where it reads from and where it writes."""

    lake: Lake
    source_id: str
    table: str
    tracker: WatermarkTracker
    previous_parts: list[str]
    full: bool

    @property
    def part(self) -> str:
        """The lake part this run writes."""
        return part_for(self.source_id, self.tracker.since)

    @classmethod
    def begin(
        cls, lake: Lake, source_id: str, table: str, column: str, full_reload: bool
    ) -> IncrementalRun:
        """Load the stored state (unless ``full_reload``) and set the bound."""
        state = lake.read_state(source_id)
        previous = list(state.get("parts", [])) if state else []
        if state is None or full_reload:
            return cls(lake, source_id, table, WatermarkTracker(column), previous, full=True)
        stored_column = state.get("watermark_column")
        if stored_column != column or state.get("table") != table:
            raise ConfigError(
                f"source {source_id!r}: the stored state is for watermark column "
                f"{stored_column!r} into table {state.get('table')!r}, the config says "
                f"{column!r} into {table!r}: run the import with --full-reload"
            )
        watermark = state.get("watermark")
        since = decode_value(watermark) if isinstance(watermark, dict) else None
        return cls(
            lake, source_id, table, WatermarkTracker(column, since=since), previous, full=False
        )

    def commit(self, wrote_part: bool) -> dict[str, Any]:
        """Record the new watermark (after the part was written); drop stale parts on reload."""
        parts = [] if self.full else list(self.previous_parts)
        if wrote_part and self.part not in parts:
            parts.append(self.part)
        if self.full:
            for stale in sorted(set(self.previous_parts) - set(parts)):
                self.lake.delete_part(self.table, stale)
        last = self.tracker.last
        state: dict[str, Any] = {
            "source_id": self.source_id,
            "table": self.table,
            "watermark_column": self.tracker.column,
            "watermark": encode_value(last) if last is not None else None,
            "parts": sorted(parts),
        }
        self.lake.write_state(self.source_id, state)
        return state
