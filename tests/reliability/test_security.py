"""Security: names and paths from config kept inside their roots, secrets redacted, no unsafe
deserialisation in the code."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from datapipeline.cli import main
from datapipeline.config import ImportConfig, ProcessConfig, load_file
from datapipeline.errors import ConfigError
from datapipeline.security import RedactingFilter, inside, redact, redact_document
from tests.reliability.conftest import make_data

SRC = Path(__file__).resolve().parents[2] / "src" / "datapipeline"
COMMAND = Path(sys.executable).parent / "datapipeline"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://etl:s3cret@db:5432/pharma", "postgresql://etl:***@db:5432/pharma"),
        ("mysql+pymysql://u:p%40ss@h/db?x=1", "mysql+pymysql://u:***@h/db?x=1"),
        ("a https://u:pw@h/p and ftp://v:w@k", "a https://u:***@h/p and ftp://v:***@k"),
        (
            "password with @ in it: mssql://sa:a@b@host/db",
            "password with @ in it: mssql://sa:***@host/db",
        ),
        ("gs://bucket/prefix", "gs://bucket/prefix"),
        ("https://user@host/x", "https://user@host/x"),
        ("/data/pubmed.csv: line 3", "/data/pubmed.csv: line 3"),
    ],
)
def test_redact_hides_url_passwords(text: str, expected: str) -> None:
    assert redact(text, environ={}) == expected


def test_redact_hides_secret_environment_values() -> None:
    environ = {
        "PG_PASSWORD": "hunter22",
        "API_TOKEN": "tok-123",
        "APP_SECRET": "xyz",
        "HOME": "/root",
    }
    text = "login hunter22 with tok-123 and xyz from /root"
    assert redact(text, environ) == "login *** with *** and *** from /root"


def test_a_short_or_numeric_secret_is_redacted_only_where_it_stands_alone() -> None:
    """Issue 16: a secret ``601`` turned ``150601`` into ``150***``: part of a longer word or
    number it is some other value."""
    environ = {"PG_PASSWORD": "601", "API_TOKEN": "abc12"}
    text = "read 150601 rows, 1.601 s, 601.5 MB, id x601; password 601, token abc12, abc123"
    assert redact(text, environ) == (
        "read 150601 rows, 1.601 s, 601.5 MB, id x601; password ***, token ***, abc123"
    )
    assert redact("postgresql://etl:601@db/x and 601@db", environ) == (
        "postgresql://etl:***@db/x and ***@db"
    )


def test_a_long_secret_is_redacted_even_inside_a_longer_word() -> None:
    environ = {"PG_PASSWORD": "hunter2secret"}
    assert redact("xhunter2secretx", environ) == "x***x"


def test_a_document_is_redacted_value_by_value_never_in_its_numbers() -> None:
    environ = {"PG_PASSWORD": "601"}
    document = {
        "sources": {"pubmed": {"read": 150601, "rejected": 601, "ratio": 1.601}},
        "outputs": {"graph": "/data/601/graph.json", "601": ["601", True, None]},
    }
    assert redact_document(document, environ) == {
        "sources": {"pubmed": {"read": 150601, "rejected": 601, "ratio": 1.601}},
        "outputs": {"graph": "/data/***/graph.json", "***": ["***", True, None]},
    }
    assert document["outputs"]["graph"] == "/data/601/graph.json"  # a copy: the input is kept


def test_the_run_report_stays_valid_json_with_a_secret_among_its_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16: the report was redacted as text, so ``"read": 150601`` became ``150***``."""
    from datapipeline.mentions.recipe import SourceAccount
    from datapipeline.run.outputs import write_report
    from datapipeline.run.report import RunReport

    monkeypatch.setenv("WAREHOUSE_PASSWORD", "601")
    account = SourceAccount(read=150601, published=150000, merged=0, rejected=601)
    report = RunReport(
        accounts={"pubmed": account},
        graph={"drugs": 601},
        outputs={"graph": str(tmp_path / "601" / "graph.json")},
    )
    write_report(report, tmp_path / "run_report.json")
    written = json.loads((tmp_path / "run_report.json").read_text(encoding="utf-8"))
    assert written["sources"]["pubmed"]["read"] == 150601
    assert written["sources"]["pubmed"]["rejected"] == 601
    assert written["graph"] == {"drugs": 601}
    assert written["outputs"]["graph"] == str(tmp_path / "***" / "graph.json")


def test_logged_messages_are_redacted() -> None:
    record = logging.LogRecord(
        "x", logging.WARNING, "f", 1, "cannot reach %s", ("pg://a:b@h",), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "cannot reach pg://a:***@h"


def test_an_error_line_never_shows_a_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--lake", "postgresql://etl:s3cret@db/x", "--output-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "s3cret" not in err
    assert "error: unsupported lake URL 'postgresql://etl:***@db/x'" in err


def test_secrets_from_the_environment_stay_out_of_logs_and_reports(tmp_path: Path) -> None:
    """A secret value that shows up in a path: redacted on stderr, stdout and in the report."""
    secret = "Zq8secretvalue"
    data = make_data(
        tmp_path / f"data-{secret}",
        {"pubmed.csv": "id,title,date,journal\n1,Café ethanol,31/02/2020,J\n".encode("cp1252")},
    )
    out = tmp_path / "out"
    args = [str(COMMAND), "run", "--data-dir", str(data), "--output-dir", str(out)]
    env = {**os.environ, "WAREHOUSE_PASSWORD": secret}
    done = subprocess.run(
        [*args, "--lake", str(tmp_path / "lake")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "decoded_as_cp1252" in done.stdout  # the repair is told, the secret is not
    assert secret not in done.stderr + done.stdout
    for name in ("run_report.json", "rejected_rows.jsonl"):
        assert secret not in (out / name).read_text(encoding="utf-8"), name
    rejected = json.loads((out / "rejected_rows.jsonl").read_text(encoding="utf-8"))
    assert rejected["file"] == str(data / "pubmed.csv").replace(secret, "***")


@pytest.mark.parametrize("field", ["graph_file", "report_file", "rejected_file"])
@pytest.mark.parametrize(
    "value", ["../graph.json", "/etc/passwd", "sub/graph.json", "..", ".hidden", "a\\b.json", ""]
)
def test_output_file_names_must_be_plain_names(tmp_path: Path, field: str, value: str) -> None:
    config = tmp_path / "file_to_process.yaml"
    config.write_text(json.dumps({field: value}))
    with pytest.raises(
        ConfigError, match=rf"^{re.escape(str(config))}: {field}: .*plain file name"
    ):
        load_file(config, ProcessConfig)


@pytest.mark.parametrize("value", ["../drugs", "/abs", "a/b", ".."])
def test_table_names_from_config_are_checked(tmp_path: Path, value: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"tables": {"drugs": value}}))
    with pytest.raises(ConfigError, match=r"tables: .*invalid table name"):
        load_file(config, ProcessConfig)
    sources = tmp_path / "s.yaml"
    entry = {"source_id": "x", "source_type": "csv", "source": "a.csv", "dest_table": value}
    sources.write_text(json.dumps({"sources": [entry]}))
    with pytest.raises(ConfigError, match=r"sources\[0\]\.dest_table: .*invalid"):
        load_file(sources, ImportConfig)


def test_process_refuses_a_config_pointing_outside_the_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "file_to_process.yaml"
    config.write_text("graph_file: ../../escaped.json\n")
    out = tmp_path / "a" / "out"
    args = ["process", "--config_file", str(config), "--input_folder", str(tmp_path / "lake")]
    assert main([*args, "--output_folder", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {config}: graph_file: ")
    assert not list(tmp_path.rglob("escaped.json"))


def test_a_symlinked_output_that_leads_outside_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "out"
    root.mkdir()
    (root / "graph.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(ConfigError, match="resolves outside"):
        inside(root, "graph.json", "graph_file")
    assert inside(root, "report.json", "report_file") == root / "report.json"


def test_the_import_command_refuses_an_unsafe_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "p.csv"
    data.write_text("id,title,date,journal\n")
    args = ["import", "--source", str(data), "--source_type", "csv", "--dest_table", "../../etc"]
    assert main([*args, "--output_folder", str(tmp_path / "lake")]) == 2
    assert "invalid table or source name '../../etc'" in capsys.readouterr().err
    assert not (tmp_path / "etc").exists()


UNSAFE = [
    (re.compile(r"(?<![\w.])eval\("), "eval("),
    (re.compile(r"(?<![\w.])exec\("), "exec("),
    (re.compile(r"\bpickle\b|\bcPickle\b|\bdill\b|\bmarshal\.loads?\b"), "pickle"),
    (re.compile(r"yaml\.load\((?![^)]*SafeLoader)"), "yaml.load without SafeLoader"),
    (
        re.compile(r"yaml\.unsafe_load|yaml\.full_load|Loader=yaml\.(?:Full)?Loader\b"),
        "unsafe YAML",
    ),
    (re.compile(r"shell\s*=\s*True"), "shell=True"),
]


def test_the_source_tree_has_no_eval_exec_pickle_or_unsafe_yaml() -> None:
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10
    found = [
        f"{path.relative_to(SRC)}:{number}: {what}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        for pattern, what in UNSAFE
        if pattern.search(line)
    ]
    assert found == []


def test_the_unsafe_code_check_would_catch_each_pattern() -> None:
    samples = [
        "x = eval(text)",
        "exec(code)",
        "import pickle",
        "yaml.load(stream)",
        "yaml.load(s, Loader=yaml.Loader)",
        "subprocess.run(c, shell=True)",
    ]
    for sample in samples:
        assert any(p.search(sample) for p, _ in UNSAFE), sample
    assert not any(p.search("yaml.safe_load(s)") for p, _ in UNSAFE)
    assert not any(p.search("frame.eval_expr(x)") for p, _ in UNSAFE)
