"""scripts/audit.sh: an audit that audits nothing never passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "audit.sh"


def _fake_venv(root: Path, uv_output: str | None) -> Path:
    """A virtualenv with a stand-in pip-audit and no pip; with ``uv_output``, a stand-in uv
    whose ``pip freeze`` prints it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    scripts = {"pip-audit": "#!/bin/sh\necho 'pip-audit 2.9.0'\n"}
    if uv_output is not None:
        scripts["uv"] = f"#!/bin/sh\nprintf '{uv_output}'\n"
    for name, text in scripts.items():
        path = root / "bin" / name
        path.write_text(text)
        path.chmod(0o755)
    return root


def _audit(venv: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VENV": str(venv)}
    return subprocess.run(
        [str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_virtualenv_without_uv_or_pip_fails_instead_of_auditing_nothing(tmp_path: Path) -> None:
    done = _audit(_fake_venv(tmp_path / "venv", uv_output=None))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(f"audit FAILED: cannot list the packages of {tmp_path / 'venv'}")
    assert "No module named pip" in done.stderr


def test_a_virtualenv_with_no_package_fails(tmp_path: Path) -> None:
    done = _audit(_fake_venv(tmp_path / "venv", uv_output="# nothing installed\\n"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == (
        f"audit FAILED: no package to audit in {tmp_path / 'venv'} (an empty audit is not a pass)"
    )
