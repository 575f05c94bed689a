"""atomic_open: whole or absent, and the write-back of large binary files started as they grow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from datapipeline import atomic
from datapipeline.atomic import atomic_open


def test_large_binary_files_hand_their_pages_to_the_write_back_as_they_grow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(atomic, "WRITEBACK_BYTES", 1000)
    monkeypatch.setattr(
        os, "posix_fadvise", lambda fd, offset, length, advice: calls.append((offset, length))
    )
    pieces = [bytes([i]) * 300 for i in range(10)]
    target = tmp_path / "graph.json"
    with atomic_open(target, binary=True) as handle:
        for piece in pieces:
            handle.write(piece)
        assert not target.exists()  # not before the block ends
    assert target.read_bytes() == b"".join(pieces)
    # every 1000 bytes written (or more), the range not handed over yet, in order, no overlap
    assert calls == [(0, 1200), (1200, 1200)]


def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.json"

    def write_then_crash() -> None:
        with atomic_open(target, binary=True) as handle:
            handle.write(b"x" * 10)
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        write_then_crash()
    assert list(tmp_path.iterdir()) == []
