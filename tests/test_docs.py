"""The README and docs say what the program does: its sample output, paths, hints, quickstarts."""

from __future__ import annotations

import itertools
import os
import re
import shlex
from pathlib import Path

import pytest

from datapipeline.cli import help as cli_help
from datapipeline.cli import main

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _code_blocks(path: Path) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)


def _readme_block_after(heading_text: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text[text.index(heading_text) :]
    return re.search(r"^```\n(.*?)^```", after, re.M | re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_sample_output_is_what_the_sample_job_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make run` in the checkout: the README block, timings aside (they vary from run to
    run). The outputs go to a temporary folder, shown as processed_data/ like a real run."""
    monkeypatch.chdir(REPO)
    out = tmp_path / "processed_data"
    assert main(["run", "--output-dir", str(out), "--lake", str(tmp_path / "imported_data")]) == 0
    printed = capsys.readouterr().out.replace(f"{tmp_path}{os.sep}", "")
    expected = _readme_block_after("The run ends with a summary on the console")
    timing = re.compile(r"^time: .*$", re.M)
    assert timing.sub("time: …", printed) == timing.sub("time: …", expected)
    assert timing.search(printed)  # the line is there, only its figures are not compared


def _example_commands() -> list[tuple[str, list[str]]]:
    """Every ``datapipeline …`` command of the docs' code blocks and of the --help epilogs."""
    texts = [(p.name, block) for p in DOCS for block in _code_blocks(p)]
    texts += [(name, value) for name, value in vars(cli_help).items() if name.startswith("EPILOG_")]
    commands = []
    for where, text in texts:
        for line in text.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("datapipeline "):
                commands.append((where, shlex.split(line.split("&&")[0])))
    return commands


#: Options whose value is a local input path that must exist for the example to run.
INPUT_OPTIONS = {"--data-dir", "--data_dir", "--source", "--config_file", "--config-dir"}


def _is_placeholder(value: str) -> bool:
    return "://" in value or "$" in value or value.isupper() or value.startswith("~")


def test_examples_name_input_paths_that_exist() -> None:
    """The issue: examples used ./data and data/drugs.csv, which do not exist."""
    checked = 0
    for where, argv in _example_commands():
        for option, value in itertools.pairwise(argv):
            if option not in INPUT_OPTIONS or _is_placeholder(value) or " " in value:
                continue
            path = REPO / value
            shared = value.startswith("../shared/")
            if shared and not path.exists() and os.environ.get("CI") != "true":
                continue  # the reference data, beside the repository in CI
            assert path.exists(), f"{where}: {' '.join(argv)}: {value} does not exist"
            checked += 1
    assert checked >= 10  # the examples were found


#: Hints that would install a same-named project of a public index instead of this one.
FOREIGN_INSTALL = re.compile(r"pip install ['\"]?datapipeline\b")


def test_install_hints_install_this_project() -> None:
    files = [*DOCS, *sorted((REPO / "src").rglob("*.py")), REPO / "Makefile"]
    offending = sorted(
        str(p.relative_to(REPO))
        for p in files
        if FOREIGN_INSTALL.search(p.read_text(encoding="utf-8"))
    )
    assert offending == []


@pytest.mark.parametrize("doc", ["README.md", "docs/airflow.md"])
def test_the_airflow_quickstart_sets_a_small_parallelism_and_a_consistent_port(doc: str) -> None:
    """On a small machine the LocalExecutor's default 32 workers exhaust memory."""
    (block,) = [b for b in _code_blocks(REPO / doc) if "airflow standalone" in b]
    exported = dict(re.findall(r"(AIRFLOW__[A-Z_]+)=(\S+)", block))
    assert 2 <= int(exported["AIRFLOW__CORE__PARALLELISM"]) <= 8
    port = exported["AIRFLOW__API__PORT"]
    assert exported["AIRFLOW__API__BASE_URL"] == f"http://localhost:{port}"


def test_no_doc_ends_in_a_leftover_draft() -> None:
    drafts = [
        f"{p.name}: {line}"
        for p in DOCS
        for line in p.read_text(encoding="utf-8").splitlines()
        if line.startswith("#") and "draft" in line.lower()
    ]
    assert drafts == []
