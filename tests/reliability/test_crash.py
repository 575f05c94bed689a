"""Crashes: ``datapipeline run`` killed with SIGKILL at many moments, then run again.

After every kill, each output that exists is whole: byte-identical to the output of a clean
run on the same input (so it parses), lake tables hold exactly their parts, and no visible
temporary file is left (hidden ``.…tmp`` files and staging folders may remain; readers ignore
them). The next complete run removes them and is byte-identical to a clean run.

The kill moments are a fixed list: some measured from the start of the process, most from the
moment a step announces itself on stderr (``import …``, ``write graph …``), so kills land inside
the lake writes and the output writes, not only in the start-up.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datapipeline.cli import main
from datapipeline.lake import Lake
from tests.reliability.conftest import make_data

COMMAND = Path(sys.executable).parent / "datapipeline"
TITLES = 10_000
OUTPUTS = {
    "graph.json",
    "graph_nodes.parquet",
    "graph_edges.parquet",
    "run_report.json",
    "rejected_rows.jsonl",
}
TABLES = {"drugs", "pubmed", "clinical_trials", "graph_nodes", "graph_edges"}

#: (step whose announcement starts the clock, or None for the process start; seconds after it)
KILL_POINTS: list[tuple[str | None, float]] = [
    (None, 0.0),
    (None, 0.3),
    (None, 0.6),
    *(("import", ms / 1000) for ms in (0, 5, 10, 20, 30, 45, 60, 80, 110, 150)),
    ("read lake", 0.0),
    ("read lake", 0.02),
    ("clean and match", 0.0),
    ("clean and match", 0.2),
    *(("write graph", ms / 1000) for ms in (0, 5, 10, 15, 20, 30, 40, 60, 80, 110, 150, 250)),
]
#: Kills run in chains; a chain starts from nothing or from a finished run's outputs, and
#: ends with a complete run that must equal the clean one.
CHAINS = 4


def generate(data: Path) -> None:
    """Deterministic input: ``TITLES`` publications over three files, a few bad rows."""
    rng = random.Random(20240601)
    drugs = ["ETHANOL", "ATROPINE", "ASPIRIN", "BETAMETHASONE", "EPINEPHRINE", "TETRACYCLINE"]
    words = ["study", "effect", "of", "in", "patients", "trial", "therapy", "dose", "acute"]

    def title() -> str:
        return " ".join(rng.choice(words + drugs) for _ in range(8))

    half, quarter = TITLES // 2, TITLES // 4
    pubmed_rows = "".join(
        f"{i},{title()},{rng.randint(1, 31):02d}/{rng.randint(1, 12):02d}/20{rng.randint(10, 21)},"
        f"Journal {rng.randint(1, 200)}\n"
        for i in range(half)
    )
    records = [
        {"id": i, "title": title(), "date": f"2020-01-{rng.randint(1, 28):02d}", "journal": "J"}
        for i in range(half, half + quarter)
    ]
    trials = "".join(f"NCT{i},{title()},1 January 2020,Journal {i % 30}\n" for i in range(quarter))
    make_data(
        data,
        {
            "drugs.csv": "atccode,drug\n" + "".join(f"A{i},{d}\n" for i, d in enumerate(drugs)),
            "pubmed.csv": "id,title,date,journal\n" + pubmed_rows,
            "pubmed.json": json.dumps(records),
            "clinical_trials.csv": "id,scientific_title,date,journal\n" + trials,
        },
    )


def snapshot(root: Path) -> dict[str, bytes]:
    """Every visible file under ``root`` (no component starting with '.'), by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def tables(lake: Path) -> dict[str, bytes]:
    """The lake's tables (without ``_state``: caches named per run, checked for wholeness)."""
    return {k: v for k, v in snapshot(lake).items() if not k.startswith("_state/")}


def hidden(root: Path) -> list[str]:
    """Hidden leftovers (temporary files, staging folders) under ``root``."""
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.startswith("."))


def command(data: Path, out: Path, lake: Path) -> list[str]:
    return [
        str(COMMAND),
        "run",
        "--data-dir",
        str(data),
        "--output-dir",
        str(out),
        "--lake",
        str(lake),
    ]


def kill_at(args: list[str], step: str | None, delay: float) -> tuple[int, str | None]:
    """Start ``args``, SIGKILL it ``delay`` s after ``step`` is announced; (exit code, last step)."""
    proc = subprocess.Popen(
        args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        env={**os.environ, "DATAPIPELINE_PROGRESS": "plain"},  # one line per step to time kills
    )
    assert proc.stderr is not None
    last = None
    if step is not None:
        for line in proc.stderr:
            last = line.strip().rstrip(" …")
            if last == step:
                break
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stderr.close()
    return proc.returncode, last


def check_whole(out: Path, lake: Path, reference: dict[str, dict[str, bytes]]) -> None:
    """Outputs absent or identical to the clean run's; tables whole; nothing partial visible."""
    outputs = snapshot(out) if out.exists() else {}
    assert set(outputs) <= OUTPUTS
    for name, content in outputs.items():
        assert content == reference["out"][name], f"{name} differs from a clean run's"
    if not lake.exists():
        return
    visible = {p.name for p in lake.iterdir() if not p.name.startswith(".")}
    assert visible <= TABLES | {"_state"}
    # the incremental state (match caches, input digests) is written atomically file by file
    state = lake / "_state" / "run" / "inputs.json"
    if state.exists():
        json.loads(state.read_text(encoding="utf-8"))
    files = snapshot(lake)
    # One part per input file, each written atomically: a kill during an import leaves every
    # visible part whole (byte-identical to a clean run's); parts not yet written are absent
    # until the next run writes them.
    for name, content in files.items():
        if not name.startswith("_state/"):
            assert content == reference["lake"][name], f"lake part {name} is not whole"


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_whole_outputs_and_the_next_run_recovers(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    generate(data)
    out, lake = tmp_path / "out", tmp_path / "lake"
    done = subprocess.run(command(data, out, lake), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    reference = {
        "out": snapshot(out),
        "lake": tables(lake),
        "rows": {t: Lake(lake).read_table(t).num_rows for t in TABLES},  # type: ignore[dict-item]
    }
    assert set(reference["out"]) == OUTPUTS
    json.loads(reference["out"]["graph.json"])
    finished = shutil.copytree(tmp_path, tmp_path.parent / f"{tmp_path.name}-finished")

    killed, leftovers, steps = 0, 0, set()
    per_chain = -(-len(KILL_POINTS) // CHAINS)
    for chain in range(CHAINS):
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(lake, ignore_errors=True)
        if chain % 2:  # start from a finished run: a kill must leave old or new, both whole
            shutil.copytree(finished / "out", out)
            shutil.copytree(finished / "lake", lake)
        for step, delay in KILL_POINTS[chain * per_chain : (chain + 1) * per_chain]:
            code, last = kill_at(command(data, out, lake), step, delay)
            if code == -signal.SIGKILL:
                killed += 1
                steps.add(last)
            leftovers += bool(hidden(out) or hidden(lake))
            check_whole(out, lake, reference)
        done = subprocess.run(command(data, out, lake), capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert snapshot(out) == reference["out"]
        assert tables(lake) == reference["lake"]
        assert hidden(out) == []  # the next run cleaned up
        assert hidden(lake) == []
    print(f"{killed} of {len(KILL_POINTS)} runs killed; {leftovers} left hidden temporary files")
    assert killed >= len(KILL_POINTS) * 3 // 4, "most kill points must land before the run ends"
    assert {"import", "write graph"} <= steps


def test_rerunning_an_import_replaces_its_table_and_never_duplicates_rows(tmp_path: Path) -> None:
    data = make_data(
        tmp_path / "data",
        {"pubmed.csv": "id,title,date,journal\n1,Ethanol,01/01/2020,J\n2,Atropine,01/01/2020,J\n"},
    )
    lake = tmp_path / "lake"
    source = ["--source", str(data / "pubmed.csv"), "--source_type", "csv"]
    imp = ["import", *source, "--dest_table", "pubmed", "--output_folder", str(lake)]
    for _ in range(3):
        assert main(imp) == 0
        assert Lake(lake).read_table("pubmed").num_rows == 2
    run = ["run", "--data-dir", str(data), "--lake", str(lake), "--output-dir", str(tmp_path / "o")]
    for _ in range(2):
        assert main(run) == 0
        # the whole table is replaced: the part the import wrote is gone, rows are not doubled
        assert Lake(lake).read_table("pubmed").num_rows == 2
        # one part per input file: the import's own part was replaced, not added to
        assert sorted(p.name for p in (lake / "pubmed").iterdir()) == [
            "pubmed.csv.parquet",
            "pubmed.json.parquet",
        ]
