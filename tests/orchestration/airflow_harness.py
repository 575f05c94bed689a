"""Run a real, throwaway Airflow 3.3 on this machine for end-to-end tests.

Why this exists: ``dag.test()`` runs every task in-process, so it never exercises the
things that break in production -- serialisation by the DAG processor, the scheduler's
dependency logic, the executor, the Task Execution API (JWT auth, ports), and DAGs that
trigger other DAGs and wait for them. This module starts the same daemons a deployment
runs, against a SQLite metadata DB in a temporary ``AIRFLOW_HOME``, and guarantees that
nothing is left running afterwards.

Airflow 3.3 topology started here (all are required for a task to run):

* ``airflow api-server``  -- serves the REST API *and* the Task Execution API
  (``/execution/``). In Airflow 3 task processes never touch the metadata DB; every
  state change, XCom and ``TriggerDagRunOperator`` trigger goes through this server.
  Without it tasks sit in ``queued`` and then fail.
* ``airflow scheduler``   -- schedules runs and hosts the LocalExecutor workers.
* ``airflow dag-processor`` -- parses DAG files; the scheduler only sees serialised
  DAGs, so without it nothing is ever scheduled (it is no longer part of the scheduler).
* ``airflow triggerer``   -- optional: only needed for deferred tasks (e.g.
  ``TriggerDagRunOperator(deferrable=True)``). Without it a deferred task waits forever.

Only the standard library is used so the helper can be imported without Airflow being
importable in the test process; the daemons run as ``python -m airflow`` with the
interpreter running pytest.

Typical use::

    with start_airflow(tmp / "home", dags, {}, expect_dag_ids=["a"]) as af:
        state = trigger_and_wait(af, "a", conf={"x": 1}, timeout=120)
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Every process we start (and every descendant, since the environment is inherited)
#: carries this variable. Task processes move into their own process groups (the Task
#: SDK supervisor calls ``setpgid``), so killing the daemons' groups is not enough to
#: prove nothing survived; scanning ``/proc/*/environ`` for this marker is.
MARKER_VAR = "DATAPIPELINE_AIRFLOW_HARNESS_ID"

TERMINAL_RUN_STATES = frozenset({"success", "failed"})

DAEMONS_BASE = ("api-server", "scheduler", "dag-processor")


class AirflowHarnessError(RuntimeError):
    """Raised with the tail of the daemon logs, so a CI failure is diagnosable."""


@dataclass
class AirflowInstance:
    """Handle on a running instance; passed to the module's helper functions."""

    home: Path
    dags_folder: Path
    api_url: str
    env: dict[str, str]
    log_dir: Path
    harness_id: str
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of each daemon log, for assertion messages."""
        out = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()
            out.append(f"----- {path.name} (last {lines} lines) -----")
            out.extend(text[-lines:])
        return "\n".join(out)


# --------------------------------------------------------------------------- config


def _free_port() -> int:
    # Asking the kernel for a free port avoids clashing with a developer's Airflow on
    # 8080 or with a parallel test run; the tiny race until the api-server binds is
    # acceptable for tests.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_env(
    home: Path,
    dags_folder: Path,
    env_extra: Mapping[str, str] | None = None,
    *,
    port: int,
    parallelism: int = 4,
) -> dict[str, str]:
    """Environment for every Airflow process of one instance.

    Configuration is passed only via ``AIRFLOW__SECTION__KEY`` variables so that every
    daemon sees exactly the same values without a config file race: in Airflow 3 each
    process that finds no ``[api_auth] jwt_secret`` invents its own random one, and then
    the api-server rejects the scheduler's task tokens with "403 Invalid auth token".
    Inherited ``AIRFLOW*`` variables from the developer's shell are dropped so the test
    is hermetic.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    api_url = f"http://127.0.0.1:{port}"
    # Fernet key format: urlsafe base64 of 32 random bytes (kept stdlib-only on purpose).
    fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
            # --- core
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # LocalExecutor is the only in-tree local executor in Airflow 3
            # (SequentialExecutor was removed) and it is accepted with SQLite: workers
            # no longer write to the DB themselves, they call the Execution API.
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # With fork, LocalExecutor pre-spawns `parallelism` workers (default 32).
            # It must be >= 2 when a non-deferrable TriggerDagRunOperator waits: the
            # waiting task holds a slot while the child DAG's tasks need another one;
            # parallelism=1 deadlocks until dagrun_timeout.
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            # New DAGs are paused by default; a paused child DAG makes an orchestrator
            # wait forever. Tests should not depend on remembering to unpause.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": fernet_key,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            # Simple auth manager with everyone admin: the REST API then needs no token
            # (a middleware injects one), which keeps the test client trivial.
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # --- database
            # Absolute path (Airflow rejects relative SQLite paths). timeout=30: wait on
            # a busy database instead of the sqlite3 default of 5 s, since four
            # processes write to one file (Airflow already enables WAL for SQLite).
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=30",
            # --- api-server (also the Task Execution API)
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__WORKERS": "1",
            # Shared by all daemons (see docstring). 64 bytes: shorter HMAC keys log an
            # InsecureKeyLengthWarning for every token.
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            # --- DAG processor: files present at start are parsed at once; these make a
            # file added later show up within seconds instead of 5 minutes.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "3",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
            # --- scheduler / triggerer: short heartbeats so state changes propagate fast
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            # --- logging
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            MARKER_VAR: "",  # filled in by start_airflow
        }
    )
    env.update(env_extra or {})
    return env


# --------------------------------------------------------------------------- processes


def _airflow_cmd(*args: str) -> list[str]:
    # `python -m airflow` with the interpreter running pytest: no PATH dependence and
    # the DAGs run on exactly the packages the test process sees.
    return [sys.executable, "-m", "airflow", *args]


def run_cli(
    af: AirflowInstance | None, *args: str, env: Mapping[str, str] | None = None, timeout=300
) -> subprocess.CompletedProcess[str]:
    """Run an ``airflow`` CLI command against the instance (or a bare env), raising on error."""
    proc_env = dict(env if env is not None else af.env)  # type: ignore[union-attr]
    res = subprocess.run(
        _airflow_cmd(*args),
        env=proc_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if res.returncode != 0:
        raise AirflowHarnessError(
            f"airflow {' '.join(args)} exited {res.returncode}\n"
            f"stdout:\n{res.stdout[-3000:]}\nstderr:\n{res.stderr[-3000:]}"
        )
    return res


def _marked_pids(harness_id: str) -> set[int]:
    """PIDs of live (non-zombie) processes carrying this instance's marker."""
    needle = f"{MARKER_VAR}={harness_id}".encode()
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # state is the field after the parenthesised command name
        state = stat.rsplit(")", 1)[-1].split()[0]
        if state != "Z" and needle in environ.split(b"\0"):
            found.add(int(entry.name))
    return found


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: Shutdown order: producers of work first, the api-server last, because task
#: processes still running during shutdown report their final state through it.
STOP_ORDER = ("scheduler", "triggerer", "dag-processor", "api-server")


def _stop_all(af: AirflowInstance, grace: float = 15.0) -> list[int]:
    """Stop daemons one by one, then sweep stragglers; return PIDs still alive.

    One at a time rather than all at once: on SIGTERM every daemon writes its final job
    state, and simultaneous writers on SQLite produced "database is locked" tracebacks.
    SIGTERM lets the scheduler shut the executor down; SIGKILL follows after ``grace``
    seconds. Each daemon was started as a session leader, so its PID is its pgid.
    """
    names = sorted(af.processes, key=lambda n: STOP_ORDER.index(n) if n in STOP_ORDER else 0)
    for name in names:
        proc = af.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
        # The daemon may be gone while its workers (same group) linger.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    # Descendants that left the daemon's group (task runners use setpgid) or were
    # reparented: find them by marker.
    left: set[int] = set()
    for _ in range(20):
        left = _marked_pids(af.harness_id) if Path("/proc").is_dir() else set()
        left |= {p.pid for p in af.processes.values() if _group_alive(p.pid)}
        if not left:
            return []
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.25)
    return sorted(left)


# --------------------------------------------------------------------------- REST


def api(af: AirflowInstance, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
    """Call the instance's public REST API (``/api/v2``) and return decoded JSON.

    Why REST rather than the CLI for polling: each ``airflow`` CLI call costs ~3 s of
    CPU to import Airflow, which on a 2-core CI box competes with the scheduler, and
    several CLI commands are deprecated in favour of ``airflowctl`` in 3.x. The REST
    API is the stable public interface and needs no token with all-admins auth.
    """
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"{af.api_url}/api/v2{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise AirflowHarnessError(f"{method} {path} -> HTTP {exc.code}: {detail}") from exc
    return json.loads(raw) if raw else None


def _wait(predicate, timeout: float, what: str, af: AirflowInstance, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        for name, proc in af.processes.items():
            if proc.poll() is not None:
                raise AirflowHarnessError(
                    f"{name} exited with {proc.returncode} while waiting for {what}\n"
                    + af.log_tail()
                )
        try:
            result = predicate()
            if result:
                return result
        except (OSError, AirflowHarnessError, ValueError) as exc:  # not up yet
            last_exc = exc
        time.sleep(interval)
    raise AirflowHarnessError(
        f"timed out after {timeout}s waiting for {what} (last error: {last_exc!r})\n"
        + af.log_tail()
    )


def wait_for_dags(af: AirflowInstance, dag_ids: Iterable[str], timeout: float = 120) -> None:
    """Block until the DAG processor has serialised all ``dag_ids``.

    The scheduler and the API only know DAGs once the separate dag-processor has
    parsed and serialised them; triggering before that returns 404.
    """
    wanted = set(dag_ids)

    def seen() -> bool:
        dags = api(af, "GET", "/dags?limit=1000")["dags"]
        return wanted <= {d["dag_id"] for d in dags}

    _wait(seen, timeout, f"DAGs {sorted(wanted)} to be parsed", af)


def import_errors(af: AirflowInstance) -> list[dict[str, Any]]:
    """Import errors as recorded by the DAG processor (filename, stack_trace, ...)."""
    return list(api(af, "GET", "/importErrors?limit=1000")["import_errors"])


def unpause(af: AirflowInstance, dag_id: str) -> None:
    """Unpause a DAG (needed only if ``DAGS_ARE_PAUSED_AT_CREATION`` is overridden).

    A run triggered on a paused DAG is created but stays ``queued`` forever, so an
    orchestrator waiting on it hangs unless it uses ``fail_when_dag_is_paused``.
    """
    api(af, "PATCH", f"/dags/{dag_id}", {"is_paused": False})


def pause(af: AirflowInstance, dag_id: str) -> None:
    api(af, "PATCH", f"/dags/{dag_id}", {"is_paused": True})


def trigger(af: AirflowInstance, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
    """Create a manual run and return its run_id.

    ``logical_date`` must be sent explicitly: in Airflow 3 it is a required but nullable
    field. ``None`` gives a run with no logical date, so two triggers in the same second
    cannot collide on it.
    """
    body = {"logical_date": None, "conf": dict(conf or {})}
    return str(api(af, "POST", f"/dags/{dag_id}/dagRuns", body)["dag_run_id"])


def run_state(af: AirflowInstance, dag_id: str, run_id: str) -> str:
    return str(api(af, "GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"])


def list_runs(af: AirflowInstance, dag_id: str) -> list[dict[str, Any]]:
    return list(api(af, "GET", f"/dags/{dag_id}/dagRuns?limit=100")["dag_runs"])


def task_states(af: AirflowInstance, dag_id: str, run_id: str) -> dict[str, str | None]:
    """``task_id[map_index]`` -> state, to explain a failed run in an assertion."""
    tis = api(af, "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")
    out = {}
    for ti in tis["task_instances"]:
        key = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
        out[key] = ti["state"]
    return out


def trigger_and_wait(
    af: AirflowInstance,
    dag_id: str,
    conf: Mapping[str, Any] | None = None,
    timeout: float = 180,
    poll: float = 1.0,
) -> tuple[str, str]:
    """Trigger ``dag_id`` and poll until the run is terminal; return ``(state, run_id)``.

    Raises on timeout (with daemon logs) rather than returning ``running``, because a
    hung run in CI is almost always a topology problem (missing triggerer, paused
    child DAG, executor slots exhausted) that the logs explain.
    """
    run_id = trigger(af, dag_id, conf)

    def done() -> str | None:
        state = run_state(af, dag_id, run_id)
        return state if state in TERMINAL_RUN_STATES else None

    state = _wait(done, timeout, f"{dag_id} run {run_id} to finish", af, interval=poll)
    return state, run_id


# --------------------------------------------------------------------------- lifecycle


@contextlib.contextmanager
def start_airflow(
    home: Path,
    dags_folder: Path,
    env_extra: Mapping[str, str] | None = None,
    *,
    expect_dag_ids: Iterable[str] = (),
    with_triggerer: bool = False,
    parallelism: int = 4,
    startup_timeout: float = 150,
) -> Iterator[AirflowInstance]:
    """Start a full local Airflow in ``home``; stop it and prove it is gone on exit.

    Steps: write config as env vars, ``airflow db migrate`` (creates the SQLite DB),
    start the daemons each in its own session/process group with output in
    ``home/daemon-logs/<name>.log``, wait for the API health endpoint to report every
    component healthy and for ``expect_dag_ids`` to be parsed. On exit (also on error or
    KeyboardInterrupt) all process groups are killed and an ``AssertionError`` is raised
    if any process of this instance is still alive.

    ``with_triggerer`` is needed only by deferrable operators.
    """
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    log_dir = home / "daemon-logs"
    log_dir.mkdir(exist_ok=True)
    port = _free_port()
    env = build_env(
        home, Path(dags_folder).resolve(), env_extra, port=port, parallelism=parallelism
    )
    harness_id = secrets.token_hex(8)
    env[MARKER_VAR] = harness_id
    af = AirflowInstance(
        home=home,
        dags_folder=Path(dags_folder).resolve(),
        api_url=f"http://127.0.0.1:{port}",
        env=env,
        log_dir=log_dir,
        harness_id=harness_id,
    )

    # Migrate before any daemon starts: concurrent first-time migrations on SQLite
    # lock each other out.
    migrate = run_cli(af, "db", "migrate")
    (log_dir / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)

    daemons: dict[str, list[str]] = {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        # --skip-serve-logs: logs are read from local disk; the log server would only
        # add a process and bind fixed ports 8793/8794 (clash with a parallel run).
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
    }
    if with_triggerer:
        daemons["triggerer"] = ["triggerer", "--skip-serve-logs"]

    stray: list[int] = []
    try:
        for name, args in daemons.items():
            logf = (log_dir / f"{name}.log").open("wb")
            af.processes[name] = subprocess.Popen(
                _airflow_cmd(*args),
                env=env,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # New session => own process group (pgid == pid) => one killpg stops the
                # daemon and its workers, and Ctrl-C in pytest does not hit them twice.
                start_new_session=True,
                cwd=home,
            )
            logf.close()

        required = {"metadatabase", "scheduler", "dag_processor"}
        if with_triggerer:
            required.add("triggerer")

        def healthy() -> bool:
            health = api(af, "GET", "/monitor/health", timeout=5)
            return all(health.get(c, {}).get("status") == "healthy" for c in required)

        _wait(healthy, startup_timeout, f"components {sorted(required)} healthy", af)
        if expect_dag_ids:
            wait_for_dags(af, expect_dag_ids, timeout=startup_timeout)
        yield af
    finally:
        stray = _stop_all(af)
    assert not stray, f"processes still alive after teardown: {stray}"
