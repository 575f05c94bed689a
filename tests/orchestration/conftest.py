"""Pytest setup for the Airflow tests.

Airflow reads its configuration when it is first imported, and by default it would
create ``~/airflow``; point it at a throwaway home *before* any test module imports it.
The e2e harness builds its own environment for the daemons and ignores these values.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-pytest-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
