"""Self-test of the harness teardown, without Airflow: a daemon whose child escapes
into its own session (as Task SDK task runners do with setpgid) must still be killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from airflow_harness import MARKER_VAR, AirflowInstance, _marked_pids, _stop_all

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")


def test_stop_all_kills_descendants_that_left_the_process_group(tmp_path: Path) -> None:
    harness_id = f"selftest-{os.getpid()}"
    env = {**os.environ, MARKER_VAR: harness_id}
    escape = (
        "import os, subprocess, time;"
        "subprocess.Popen(['sleep', '300'], start_new_session=True);"
        "time.sleep(300)"
    )
    daemon = subprocess.Popen([sys.executable, "-c", escape], env=env, start_new_session=True)
    af = AirflowInstance(
        home=tmp_path,
        dags_folder=tmp_path,
        api_url="http://127.0.0.1:9",
        env=env,
        log_dir=tmp_path,
        harness_id=harness_id,
        processes={"scheduler": daemon},
    )
    # a readiness wait, not a speed check: a loaded machine may take long to start them
    deadline = time.monotonic() + 60
    while len(_marked_pids(harness_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_marked_pids(harness_id)) == 2

    assert _stop_all(af, grace=2) == []
    assert _marked_pids(harness_id) == set()
