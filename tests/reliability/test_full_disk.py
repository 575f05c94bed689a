"""Full and failing disks: the whole job on a file system whose N-th change fails.

A first run on one input set (A) publishes its outputs; then the job runs on another input set
(B) with its N-th change of the test's folder (lake and outputs: files created, written,
fsynced, renamed, linked, removed; see :mod:`tests.reliability.faults`) failing with ENOSPC
(odd N) or EIO (even N), for N = 1, 2, … until a run makes fewer than N changes. Every run
that fails exits 2 with exactly one ``error:`` line naming the cause and no traceback, and the
output folder shows A's outputs, whole (never B's beside A's, never a partial file). A failure
after B's outputs are published (removing the superseded run) is a warning, and B's outputs
are shown. Each run starts from A's folder; the last run, which nothing fails, gives B's
outputs byte for byte.

Where the program ran out of space before: a full disk while graph.json was written ended in
``ValueError: operation forbidden on released memoryview object`` (a traceback) and left A's
graph and report beside B's rejected rows.
"""

from __future__ import annotations

import errno
import gc
import shutil
import threading
import time
from pathlib import Path

import pytest

from datapipeline.cli import main
from tests.published import PUBLISHED
from tests.reliability.conftest import make_data
from tests.reliability.faults import failing_at

OUTPUTS = PUBLISHED

#: Two input sets whose outputs differ in every file.
INPUTS = {
    "a": {
        "pubmed.csv": "id,title,date,journal\n1,Ethanol in mice,01/02/2020,J1\n2,,01/02/2020,J1\n",
        "pubmed.json": '[{"id": 3, "title": "Atropine dose", "date": "2020-03-04", "journal": "K"}]',
        "clinical_trials.csv": "id,scientific_title,date,journal\nNCT1,Ethanol trial,1 May 2020,J2\n",
    },
    "b": {
        "pubmed.csv": "id,title,date,journal\n7,Atropine and ethanol,05/06/2021,J3\n8,x,31/02/2021,J3\n",
        "pubmed.json": "[]",
        "clinical_trials.csv": "id,scientific_title,date,journal\nNCT9,Atropine,2 June 2021,J4\n",
    },
}

REASONS = {errno.ENOSPC: "no space left on device", errno.EIO: "input/output error"}


def shown(out: Path) -> dict[str, bytes]:
    """What a reader finds at the documented paths: each visible entry must be one of the
    outputs, a whole file."""
    if not out.exists():
        return {}
    visible = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert set(visible) <= set(OUTPUTS), visible
    return {name: (out / name).read_bytes() for name in visible if (out / name).exists()}


def settle(threads: set[threading.Thread]) -> None:
    """Wait for the threads a failed run left behind to end (those beyond ``threads``).

    A run whose import fails returns while the lake parts it was writing in the background
    are still being written (the command's process waits for them before it exits); the next
    run must not start before."""
    deadline = time.monotonic() + 60
    while set(threading.enumerate()) - threads and time.monotonic() < deadline:
        gc.collect()  # a pool no longer referenced lets its idle threads go
        time.sleep(0.01)


def run(data: Path, out: Path, lake: Path, engine: str) -> list[str]:
    paths = ["--data-dir", str(data), "--output-dir", str(out), "--lake", str(lake)]
    return ["run", "--engine", engine, *paths]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["local", "stream"])
def test_a_disk_that_fills_or_fails_at_any_change_keeps_the_previous_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    data = {name: make_data(tmp_path / name, files) for name, files in INPUTS.items()}
    root, seed = tmp_path / "disk", tmp_path / "seed"
    out, lake = root / "out", root / "lake"
    # B's outputs, written in the same folder by a clean run (the report names its paths)
    assert main(run(data["b"], out, lake, engine)) == 0
    outputs_b = shown(out)
    shutil.rmtree(root)
    assert main(run(data["a"], out, lake, engine)) == 0
    outputs_a = shown(out)
    assert set(outputs_a) == set(OUTPUTS)
    assert all(outputs_a[name] != outputs_b[name] for name in OUTPUTS)
    shutil.copytree(root, seed, symlinks=True)
    capsys.readouterr()

    failed, number, messages = 0, 0, []
    threads = set(threading.enumerate())
    while True:
        number += 1
        code = errno.ENOSPC if number % 2 else errno.EIO
        settle(threads)
        shutil.rmtree(root)
        shutil.copytree(seed, root, symlinks=True)
        with failing_at(root, number, code) as changes:
            exit_code = main(run(data["b"], out, lake, engine))
        err = capsys.readouterr().err
        assert "Traceback" not in err
        if changes.count < number:  # nothing failed: every change was tried
            assert exit_code == 0, err
            assert shown(out) == outputs_b
            break
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        if exit_code == 0:
            # a change that may fail without failing the run: after B's outputs were
            # published (removing A's), or one whose failure changes nothing
            assert errors == [], err
            assert shown(out) == outputs_b, f"change {number}"
        else:
            assert exit_code == 2, err
            assert len(errors) == 1, err
            assert REASONS[code] in errors[0].lower(), errors[0]
            failed += 1
            messages.append(errors[0])
            assert shown(out) == outputs_a, f"change {number}: not the previous outputs"
    # the faults landed across the import (lake parts, state) and each output file
    assert failed >= 30
    assert any(f"{lake}" in m for m in messages)
    for name in OUTPUTS:
        assert any(m.startswith(f"error: {out / name}: cannot write: ") for m in messages), (
            "\n".join([name, *(m for m in messages if "/lake" not in m)])
        )
