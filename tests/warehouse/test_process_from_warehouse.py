"""``datapipeline process --from warehouse`` gives the same graph as from the lake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datapipeline import cli


def test_process_from_warehouse_gives_the_same_graph_bytes(
    tiny_inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # default environment: imported_data, processed_data/…duckdb
    assert cli.main(["run", "--data-dir", str(tiny_inputs), "--output-dir", "from-lake"]) == 0
    assert cli.main(["load"]) == 0
    assert (tmp_path / "processed_data" / "warehouse.duckdb").is_file()
    args = ["process", "--from", "warehouse", "--output_folder", "from-warehouse"]
    assert cli.main(args) == 0

    for name in ("graph.json", "rejected_rows.jsonl"):
        from_lake = (tmp_path / "from-lake" / name).read_bytes()
        assert (tmp_path / "from-warehouse" / name).read_bytes() == from_lake
    graph = json.loads((tmp_path / "from-lake" / "graph.json").read_bytes())
    assert graph["nodes"]
    assert (tmp_path / "from-lake" / "rejected_rows.jsonl").read_text()  # the undated row


def test_process_from_an_empty_warehouse_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["process", "--from", "warehouse"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "error: processed_data/warehouse.duckdb: table 'drugs' not found in the warehouse "
        "(run datapipeline load)\n"
    )
