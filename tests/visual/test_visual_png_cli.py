"""The static picture and the ``show`` command; every command's help has examples."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from datapipeline.cli import COMMANDS, main
from datapipeline.visual import prepare
from datapipeline.visual.png import layout, render_png, write_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_picture_is_a_png_and_deterministic(small_graph: Path, tmp_path: Path) -> None:
    first = write_png(tmp_path / "a" / "graph.png", small_graph)
    data = first.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 20_000
    assert render_png(small_graph) == data
    assert sorted(p.name for p in first.parent.iterdir()) == ["graph.png"]


def test_layout_is_seeded_and_spreads_nodes(small_graph: Path) -> None:
    payload = prepare(small_graph)
    a, b = layout(payload, seed=3), layout(payload, seed=3)
    assert (a == b).all()
    assert not (layout(payload, seed=4) == a).all()
    # no two nodes on top of each other
    n = len(payload["nodes"])
    gaps = [((a[i] - a[j]) ** 2).sum() ** 0.5 for i in range(n) for j in range(i + 1, n)]
    assert min(gaps) > 1.0


def test_show_writes_page_and_picture(
    small_graph: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page, picture = tmp_path / "site" / "g.html", tmp_path / "site" / "g.png"
    code = main(["show", str(small_graph), "--output", str(page), "--png", str(picture)])
    assert code == 0
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert picture.read_bytes().startswith(PNG_SIGNATURE)
    assert f"page written to {page}" in capsys.readouterr().out


def test_show_defaults_next_to_the_graph(small_graph: Path) -> None:
    assert main(["show", str(small_graph)]) == 0
    assert small_graph.with_suffix(".html").exists()


def test_show_on_a_missing_graph_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: ")
    assert "missing.json" in err[0]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_has_examples(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"] if command is None else [command, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out
    assert f"datapipeline {command or 'run'}" in out.split("examples:", 1)[1]


def test_png_without_matplotlib_names_the_extra(
    small_graph: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["show", str(small_graph), "--png", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert "install the viz extra: pip install -e '.[viz]' in the DataPipeline checkout" in err
    assert not (tmp_path / "g.png").exists()
