"""Fast path: ASCII text mapped byte by byte through a table, two bytes per lookup, in NumPy.

The interface is :func:`ascii_table` (a table from a rule on characters) and
:func:`translate_ascii` (a column mapped through it, and the rows the table cannot answer: those
that are not ASCII, for the caller to compute by the rule itself). Tested against
``str.translate`` and against the rules it serves (``tests/kernels/test_bytetable.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import polars as pl
import pyarrow as pa


def ascii_table(mapping: Callable[[str], str]) -> bytes:
    """A 256-byte table for :func:`translate_ascii`: each ASCII byte mapped through ``mapping``
    (to one ASCII character), the other bytes left as they are."""
    table = bytearray(range(256))
    for code in range(128):
        (table[code],) = mapping(chr(code)).encode("ascii")
    return bytes(table)


def translate_ascii(values: pl.Series, table: bytes) -> tuple[pl.Series, pl.Series]:
    """(``values`` with every byte mapped through ``table``, the positions of the values that
    are not ASCII).

    All values' bytes are mapped in one table lookup over the Arrow data buffer, several times
    cheaper than Polars' ``replace_many`` or ``to_lowercase`` over millions of strings. Only
    the ASCII values come out right for a rule on characters (``table`` from
    :func:`ascii_table` leaves the bytes of other characters as they are): the caller computes
    the others, few in practice, by the rule itself. Nulls stay null.
    """
    array = values.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if array.type != pa.large_string():
        array = array.cast(pa.large_string())
    validity, offsets, data = array.buffers()
    if data is None:
        return values, pl.Series(dtype=pl.get_index_type())
    translated, high_bytes = _translated(data, table)
    mapped = pl.Series(
        values.name,
        pa.Array.from_buffers(
            array.type, len(array), [validity, offsets, translated], array.null_count, array.offset
        ),
    )
    # the values holding a byte of 0x80 or more: the bytes' positions, found by value
    ends = np.frombuffer(offsets, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    rows = np.unique(np.searchsorted(ends, high_bytes, side="right") - 1)
    rows = rows[(rows >= 0) & (rows < len(array))]
    others = pl.Series(rows, dtype=pl.get_index_type())
    if values.null_count():
        others = others.filter(values.gather(others).is_not_null())
    return mapped, others


@functools.cache
def _pair_table(table: bytes) -> np.ndarray:
    """``table`` for two bytes at once: 65,536 entries of 16 bits (in the machine's order)."""
    pairs = np.arange(1 << 16, dtype=np.uint16).tobytes()
    return np.frombuffer(pairs.translate(table), dtype=np.uint16)


#: Pairs of bytes looked up per NumPy call: the positions, widened to 64 bits for ``take``,
#: stay in the cache (widening the whole buffer at once costs eight bytes per pair of memory).
_PAIRS_AT_ONCE = 1 << 16


def _translated(data: pa.Buffer, table: bytes) -> tuple[pa.Buffer, np.ndarray]:
    """(The bytes of ``data`` mapped through ``table``, in a new Arrow buffer; the positions
    of the bytes of 0x80 or more, those of characters that are not ASCII).

    Looked up two bytes at a time in :func:`_pair_table` (half the lookups of a byte table,
    which fits in the cache all the same), by NumPy without the GIL: ``bytes.translate`` holds it
    for the whole buffer while the other threads of the job wait, and needs a copy first.
    """
    codes = np.frombuffer(data, dtype=np.uint8)
    # from malloc, not Arrow's default pool (mimalloc) nor NumPy's allocator: those ask for huge
    # pages, whose first touch is dear in a VM (benchmarks/README.md)
    buffer = pa.allocate_buffer(len(codes), memory_pool=pa.system_memory_pool())
    out = np.frombuffer(buffer, dtype=np.uint8)
    even = len(codes) & ~1
    pairs, pairs_out = codes[:even].view(np.uint16), out[:even].view(np.uint16)
    lookup = _pair_table(table)
    positions = np.empty(min(len(pairs), _PAIRS_AT_ONCE), dtype=np.intp)
    high = []
    for start in range(0, len(pairs), _PAIRS_AT_ONCE):
        end = min(start + _PAIRS_AT_ONCE, len(pairs))
        some = positions[: end - start]
        some[:] = pairs[start:end]
        np.take(lookup, some, out=pairs_out[start:end], mode="wrap")
        high.append(np.flatnonzero(codes[2 * start : 2 * end] >= 0x80) + 2 * start)
    if even < len(codes):
        out[even] = table[codes[even]]
        high.append(np.flatnonzero(codes[even:] >= 0x80) + even)
    return buffer, np.concatenate(high) if high else np.empty(0, dtype=np.intp)
