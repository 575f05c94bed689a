"""A file that is not a drug-mention graph, however malformed, deep or cut, is one error line
for each of the three commands that read a graph (exit status 2, no traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from datapipeline.cli import main

GOOD_LINES = [
    '{"directed":true,"multigraph":true,"graph":{"name":"drug_mentions","schema_version":1},"nodes":[',
    '{"id":"drug:A","type":"drug","name":"A","atccode":"X"},',
    '{"id":"journal:J","type":"journal","name":"J"},',
    '{"id":"pubmed:1","type":"pubmed","source_id":"1","title":"A","date":"2020-01-01","journal":"J"}',
    '],"edges":[',
    '{"source":"drug:A","target":"journal:J","key":"2020-01-01","date":"2020-01-01"},',
    '{"source":"drug:A","target":"pubmed:1","key":"2020-01-01","date":"2020-01-01"}',
    "]}",
]
GOOD = ("\n".join(GOOD_LINES) + "\n").encode()
DEEP = 100_000


def replaced(index: int, line: str) -> bytes:
    lines = list(GOOD_LINES)
    lines[index] = line
    return ("\n".join(lines) + "\n").encode()


BAD_FILES: dict[str, bytes] = {
    "empty": b"",
    "not json": b"hello, world\n",
    "binary": bytes(range(256)) * 4,
    "not utf-8": GOOD.replace(b'"name":"J"', b'"name":"J\xff"'),
    "deep arrays": b"[" * DEEP + b"]" * DEEP,
    "deep objects": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "deep inside a node": b'{"nodes":[{"id":"x","title":'
    + b"[" * DEEP
    + b"]" * DEEP
    + b'}],"edges":[]}',
    "deep, unclosed": b"[" * DEEP,
    "top-level array": b"[1, 2, 3]",
    "top-level string": b'"graph"',
    "no nodes": b'{"edges": []}',
    "no edges": b'{"nodes": []}',
    "nodes not an array": b'{"nodes": {"id": "x"}, "edges": []}',
    "node not an object": b'{"nodes": [1], "edges": []}',
    "node without id": b'{"nodes": [{"type": "drug"}], "edges": []}',
    "id an object": b'{"nodes": [{"id": {"x": 1}}], "edges": []}',
    "edge to nowhere": b'{"nodes": [{"id": "drug:A", "type": "drug", "name": "A"}], "edges": [{"source": "drug:A", "target": "journal:J"}]}',
    "edge without target": b'{"nodes": [], "links": [{"source": "drug:A"}]}',
    "node listed twice": b'{"nodes": [{"id": "a"}, {"id": "a"}], "edges": []}',
    "truncated own layout": GOOD[: len(GOOD) // 2],
    "truncated one line": json.dumps({"nodes": [{"id": "a"}] * 50, "edges": []}).encode()[:300],
    "trailing garbage": GOOD + b"{}",
    "two commas": replaced(1, '{"id":"drug:A","type":"drug","name":"A","atccode":"X"},,'),
    "comma after the last node": replaced(3, GOOD_LINES[3] + ","),
    "a line that is an array": replaced(2, "[1,2],"),
    "own header, then anything": GOOD_LINES[0].encode() + b"\nnot json at all\n",
}


@pytest.fixture(params=sorted(BAD_FILES), ids=lambda name: name.replace(" ", "_"))
def bad_graph(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "graph.json"
    path.write_bytes(BAD_FILES[request.param])
    return path


@pytest.mark.parametrize(
    "command",
    [["top-journals"], ["related-drugs", "{graph}", "A"], ["show"]],
    ids=["top-journals", "related-drugs", "show"],
)
def test_one_error_line(
    bad_graph: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command[0], str(bad_graph), *command[2:]]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    assert str(bad_graph) in lines[0], lines[0]
    assert not (bad_graph.parent / "graph.html").exists()


def assert_one_error_line(err: str) -> None:
    assert err.startswith("error: "), err
    assert len(err.strip().splitlines()) == 1, err


def test_the_good_file_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The malformed files above are variations of a file that is read."""
    path = tmp_path / "graph.json"
    path.write_bytes(GOOD)
    assert main(["top-journals", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"count": 1, "journals": ["J"]}
    assert main(["related-drugs", str(path), "a", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"drug": "A", "related": []}


def test_missing_file_and_unreadable_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["top-journals", str(tmp_path / "missing.json")],
        ["related-drugs", str(tmp_path), "A"],  # a folder without tables or graph.json
        ["show", str(tmp_path / "missing.json")],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert_one_error_line(err)
    # tables that are not Parquet, or not the graph's
    folder = tmp_path / "tables"
    folder.mkdir()
    (folder / "graph_nodes.parquet").write_bytes(b"not parquet")
    (folder / "graph_edges.parquet").write_bytes(b"PAR1 nor this")
    for command in (["top-journals"], ["related-drugs", "X"], ["show"]):
        assert main([command[0], str(folder), *command[1:]]) == 2
        err = capsys.readouterr().err
        assert_one_error_line(err)
    pl.DataFrame({"x": [1]}).write_parquet(folder / "graph_nodes.parquet")
    pl.DataFrame({"y": [1]}).write_parquet(folder / "graph_edges.parquet")
    assert main(["top-journals", str(folder)]) == 2
    assert "no column" in capsys.readouterr().err
