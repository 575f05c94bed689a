"""The outputs of a run, published as one set (:class:`datapipeline.run.outputs.OutputSet`)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from datapipeline.cli import main
from datapipeline.config import ProcessConfig
from datapipeline.errors import ConfigError, OutputError
from datapipeline.run.outputs import CURRENT, RUNS, OutputSet, current_folder
from tests.published import PUBLISHED
from tests.reliability.faults import Changes

NAMES = PUBLISHED


def publish(out: Path, text: str, config: ProcessConfig | None = None) -> None:
    """A set whose files (the three, and the graph's two tables) hold ``text`` and their
    name."""
    with OutputSet(out, config or ProcessConfig()) as outputs:
        for path in outputs.staged.published():
            path.write_text(f"{text} {path.name}")


def shown(out: Path) -> dict[str, str]:
    """What a reader finds at the documented paths (visible entries only; the tables' bytes
    are kept as Latin-1 text so that any content compares)."""
    return {
        p.name: p.read_bytes().decode("latin-1")
        for p in sorted(out.iterdir())
        if not p.name.startswith(".")
    }


def test_the_documented_paths_lead_to_the_last_complete_set(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish(out, "first")
    first = current_folder(out)
    publish(out, "second")
    assert shown(out) == {name: f"second {name}" for name in NAMES}
    for name in NAMES:
        assert os.readlink(out / name) == f"{RUNS}/{CURRENT}/{name}"
    assert first is not None
    assert not first.exists()  # the superseded set is removed
    assert sorted(p.name for p in (out / RUNS).iterdir()) == sorted(
        [CURRENT, os.readlink(out / RUNS / CURRENT)]
    )


def test_a_failed_run_keeps_the_previous_set_and_removes_what_it_staged(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish(out, "first")

    def fail_after_the_graph() -> None:
        with OutputSet(out, ProcessConfig()) as outputs:
            outputs.staged.graph.write_text("second")
            raise RuntimeError("the run fails after its graph was written")

    with pytest.raises(RuntimeError):
        fail_after_the_graph()
    assert shown(out) == {name: f"first {name}" for name in NAMES}
    assert len(list((out / RUNS).iterdir())) == 2  # current, and the first run's folder


def test_a_system_error_writing_an_output_is_one_line_naming_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish(out, "first")
    with pytest.raises(OutputError) as raised, OutputSet(out, ProcessConfig()) as outputs:
        raise OSError(errno.ENOSPC, "No space left on device", str(outputs.staged.rejected))
    assert str(raised.value) == (
        f"{out / 'rejected_rows.jsonl'}: cannot write: no space left on device "
        "(the outputs of the previous run are kept)"
    )
    assert shown(out) == {name: f"first {name}" for name in NAMES}


def test_an_error_of_other_work_in_the_block_is_not_taken_for_an_output_error(
    tmp_path: Path,
) -> None:
    """The local engine publishes once the lake is written: a lake error keeps its own words."""
    lake_file = tmp_path / "lake" / "part.parquet"
    with (
        pytest.raises(OSError, match="Input/output error") as raised,
        OutputSet(tmp_path / "out", ProcessConfig()),
    ):
        raise OSError(errno.EIO, "Input/output error", str(lake_file))
    assert not isinstance(raised.value, OutputError)
    assert raised.value.filename == str(lake_file)


def test_outputs_of_an_older_version_are_taken_over_showing_one_set_at_every_step(
    tmp_path: Path,
) -> None:
    """Plain files at the documented paths (written before sets existed) become links to the
    same bytes before the new set is switched in: a reader sees the old three, then the new
    three, never a mix or a missing file."""
    out = tmp_path / "out"
    out.mkdir()
    for name in NAMES:
        (out / name).write_text(f"old {name}")
    seen = []

    def look(kind: str, paths: tuple[str, ...]) -> None:
        now = shown(out)
        assert now in ({n: f"old {n}" for n in NAMES}, {n: f"new {n}" for n in NAMES}), kind
        seen.append(next(iter(now.values())).split()[0])

    with Changes(out, look):
        publish(out, "new")
    assert shown(out) == {name: f"new {name}" for name in NAMES}
    assert seen[0] == "old"
    assert seen[-1] == "new"
    assert all((out / name).is_symlink() for name in NAMES)


def test_leftovers_of_killed_runs_are_removed_by_the_next(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish(out, "first")
    killed = out / RUNS / "20260101T000000Z-deadbeef"  # a run killed while staging
    killed.mkdir()
    (killed / "graph.json").write_text("partial")
    (out / RUNS / f".{CURRENT}.1234abcd.tmp").symlink_to(killed.name)  # a link never switched
    (out / ".graph.json.x1y2z3.tmp").write_text("from an older version")
    publish(out, "second")
    current = os.readlink(out / RUNS / CURRENT)
    assert sorted(p.name for p in (out / RUNS).iterdir()) == sorted([CURRENT, current])
    assert sorted(p.name for p in out.iterdir()) == sorted([RUNS, *NAMES])


def test_an_output_renamed_in_the_config_leaves_no_dead_link(tmp_path: Path) -> None:
    out = tmp_path / "out"
    publish(out, "first")
    publish(out, "second", ProcessConfig(graph_file="mentions.json"))
    assert sorted(shown(out)) == [
        "mentions.json",
        "mentions_edges.parquet",
        "mentions_nodes.parquet",
        "rejected_rows.jsonl",
        "run_report.json",
    ]
    assert not os.path.lexists(out / "graph.json")


def test_a_link_leading_outside_the_output_folder_is_still_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "graph.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(ConfigError, match="resolves outside"):
        OutputSet(out, ProcessConfig())


def test_a_full_disk_while_the_graph_is_written_is_one_error_line_and_the_old_set_stays(
    tmp_path: Path, tiny_inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16: a full disk while graph.json was written ended in a traceback
    (``ValueError: operation forbidden on released memoryview object``) and left the old
    graph and report beside the new rejected rows."""
    out = tmp_path / "out"
    args = ["run", "--data-dir", str(tiny_inputs), "--output-dir", str(out)]
    assert main([*args, "--lake", str(tmp_path / "lake")]) == 0
    before = shown(out)
    other = shutil.copytree(tiny_inputs, tmp_path / "other")
    (other / "pubmed.json").write_text("[]")  # other rows: other graph, report, rejected rows
    capsys.readouterr()

    def fill(kind: str, paths: tuple[str, ...]) -> None:
        if kind in ("write", "ftruncate") and Path(paths[0]).name.startswith(".graph.json."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with Changes(out, fill):
        code = main(
            [
                "run",
                "--data-dir",
                str(other),
                "--output-dir",
                str(out),
                "--lake",
                str(tmp_path / "lake"),
            ]
        )
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"error: {out / 'graph.json'}: cannot write: no space left on device "
        "(the outputs of the previous run are kept)\n"
    )
    assert shown(out) == before


def test_a_copy_of_the_folder_that_followed_the_links_is_taken_over(tmp_path: Path) -> None:
    """``cp -rL`` (or ``shutil.copytree``) of an output folder makes plain files of the links
    and a folder of ``.runs/current``: a run into the copy publishes as usual."""
    publish(tmp_path / "out", "first")
    copy = shutil.copytree(tmp_path / "out", tmp_path / "copy")
    assert not (copy / RUNS / CURRENT).is_symlink()
    publish(copy, "second")
    assert shown(copy) == {name: f"second {name}" for name in NAMES}
    assert (copy / RUNS / CURRENT).is_symlink()


def test_a_folder_at_an_output_path_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "graph.json").mkdir(parents=True)
    with pytest.raises(OutputError, match=r"graph.json: is a folder, expected the file"):
        publish(out, "first")
    assert sorted(p.name for p in (out / RUNS).iterdir()) == []
