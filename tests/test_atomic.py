"""atomic_open: whole or absent; large binary files written directly, or with their write-back
started as they grow."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from datapipeline import atomic
from datapipeline.atomic import atomic_open


def test_large_binary_files_hand_their_pages_to_the_write_back_as_they_grow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(atomic, "_enable_direct", lambda fd: False)  # the page-cache writer
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


@pytest.mark.parametrize(
    "sizes",
    [
        [],
        [1],
        [atomic.DIRECT_BLOCK - 1, 1],
        [atomic.DIRECT_BLOCK + 1],
        [atomic.DIRECT_CHUNK - 1, 2, 5],
        [atomic.DIRECT_CHUNK * 2 + 3],
    ],
)
def test_direct_writes_give_the_bytes_written(tmp_path: Path, sizes: list[int]) -> None:
    pieces = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    target = tmp_path / "graph.json"
    with atomic_open(target, binary=True) as handle:
        for piece in pieces:
            handle.write(memoryview(piece))
    assert target.read_bytes() == b"".join(pieces)


def test_direct_writer_flushed_midway_goes_on_where_it_stopped(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    atomic._enable_direct(fd)  # where the file system has none, the same writer, buffered
    writer = atomic._DirectWriter(fd)
    writer.write(b"a" * 5000)
    writer.flush()
    assert (tmp_path / "f").read_bytes() == b"a" * 5000
    writer.write(b"b" * 10)
    writer.close()
    assert (tmp_path / "f").read_bytes() == b"a" * 5000 + b"b" * 10


def test_direct_writer_flushed_after_full_buffers_goes_on_where_it_stopped(
    tmp_path: Path,
) -> None:
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    atomic._enable_direct(fd)
    writer = atomic._DirectWriter(fd)
    first = bytes(range(256)) * (atomic.DIRECT_CHUNK // 256 * 2 + 20)  # two buffers and a bit
    writer.write(first)
    writer.flush()
    assert (tmp_path / "f").read_bytes() == first
    writer.write(b"z" * atomic.DIRECT_CHUNK)
    writer.close()
    assert (tmp_path / "f").read_bytes() == first + b"z" * atomic.DIRECT_CHUNK


def test_without_direct_io_large_files_go_through_the_page_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic, "_enable_direct", lambda fd: False)
    target = tmp_path / "graph.json"
    with atomic_open(target, binary=True) as handle:
        assert isinstance(handle, atomic._WritebackWriter)
        handle.write(b"x" * 10)
    assert target.read_bytes() == b"x" * 10


def test_a_direct_write_the_file_system_refuses_goes_on_buffered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    refused: list[int] = []

    def write(fd: int, data: object) -> int:
        if not refused:  # the first direct write: a block size the file system does not take
            refused.append(fd)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)  # type: ignore[arg-type]

    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    writer = atomic._DirectWriter(fd)
    monkeypatch.setattr(os, "write", write)
    writer.write(b"x" * 6000)
    writer.close()
    assert refused
    assert (tmp_path / "f").read_bytes() == b"x" * 6000


@pytest.mark.parametrize(
    ("sizes", "failing"),
    [
        ([100], 1),  # the file's only write, when the block ends
        ([atomic.DIRECT_CHUNK + 100], 1),  # a full buffer, written while the caller writes
        ([atomic.DIRECT_CHUNK + 100], 2),  # the last block, when the block ends
        ([atomic.DIRECT_CHUNK * 3], 1),  # a buffer written on the file's thread, caller going on
    ],
)
def test_a_full_disk_during_a_direct_write_is_an_oserror_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sizes: list[int], failing: int
) -> None:
    """Issue 16: a full disk while graph.json was written ended in ``ValueError: operation
    forbidden on released memoryview object`` (the writer flushed again once closed)."""
    real_write = os.write
    writes: list[int] = []

    def write(fd: int, data: object) -> int:
        writes.append(fd)
        if len(writes) == failing:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)  # type: ignore[arg-type]

    monkeypatch.setattr(atomic, "_enable_direct", lambda fd: True)  # the direct writer
    monkeypatch.setattr(os, "write", write)
    target = tmp_path / "graph.json"
    target.write_bytes(b"old")

    def write_graph() -> None:
        with atomic_open(target, binary=True) as handle:
            for size in sizes:
                handle.write(b"x" * size)

    with pytest.raises(OSError, match="No space left on device") as raised:
        write_graph()
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(target)
    assert len(writes) == failing  # not retried when the file is closed
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["graph.json"]
