"""How Polars frames travel between Beam steps: as Arrow IPC streams.

A value Beam has no coder for goes through its generic fallback (Polars' own serialisation for
a frame), and a shuffle encodes and decodes each value twice on the FnApiRunner. Arrow IPC is
written without a copy of the columns and read back without one (a frame over the message's
buffer).
:func:`register` makes it the coder of every ``pl.DataFrame`` a step declares it outputs.
"""

from __future__ import annotations

import apache_beam as beam
import polars as pl
import pyarrow as pa


class FrameCoder(beam.coders.Coder):
    """A Polars frame as an Arrow IPC stream."""

    def encode(self, frame: pl.DataFrame) -> bytes:
        table = frame.to_arrow()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes()

    def decode(self, data: bytes) -> pl.DataFrame:
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
        frame = pl.from_arrow(table, rechunk=False)
        assert isinstance(frame, pl.DataFrame)
        return frame

    def estimate_size(self, frame: pl.DataFrame) -> int:
        # Beam sizes every element for its metrics; encoding a frame to measure it would
        # cost as much as sending it
        return int(frame.estimated_size())

    def is_deterministic(self) -> bool:
        return False

    def to_type_hint(self) -> type:
        return pl.DataFrame


def register() -> None:
    """Make :class:`FrameCoder` the coder of ``pl.DataFrame`` values (idempotent)."""
    beam.coders.registry.register_coder(pl.DataFrame, FrameCoder)
