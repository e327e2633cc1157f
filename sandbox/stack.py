"""The sandbox stack: PostgreSQL, Redis, the reference API and a Celery worker in one folder.

Who starts and stops it:

- ``up`` (the CLI, self-tests, benchmarks) starts whatever is missing; the stack then stays up
  until ``down``.
- A ``pytest --env sandbox`` run *joins* it (``join_run``) and holds a lease while it measures.
  It boots the stack only when nothing of it runs; when some components run and others are
  stopped, it leaves them as they are (the run then reports the stopped ones). When a run
  *leaves* (``leave_run``), the stack is stopped only if a run booted it and no other run still
  holds a lease.
- ``start``/``stop`` of single components are the fault switches' business (faults.py): they
  never change who owns the stack.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lms_opscheck.sandbox import accounts, artifacts, leases, monitoring, security
from lms_opscheck.sandbox import logs as app_logs
from lms_opscheck.sandbox.processes import free_port, port_accepts, resume, spawn, wait_until
from lms_opscheck.sandbox.processes import stop as stop_process
from lms_opscheck.sandbox.redis_server import start_redis
from lms_opscheck.sandbox.schema import schema_sql
from lms_opscheck.sandbox.state import (
    CACHE,
    COMPONENTS,
    DEFAULT_ROOT,
    REDIS_AUTH_CHOICES,
    State,
    load_state,
    locked,
    save_state,
)

__all__ = [
    "DEFAULT_ROOT",
    "Joined",
    "State",
    "down",
    "join_run",
    "leave_run",
    "load_state",
    "start",
    "stop",
    "up",
]


@dataclass(frozen=True)
class Joined:
    """What a run found when it joined the sandbox."""

    state: State
    booted: bool  # this run started the whole stack (nothing of it ran)
    stopped: tuple[str, ...]  # components found stopped and left so


def up(
    root: Path = DEFAULT_ROOT,
    *,
    worker_name: str | None = None,
    redis_auth: str | None = None,
) -> tuple[State, bool]:
    """Start whatever is not running; return the state and whether anything was started.

    ``worker_name`` ("" for Celery's default ``celery@<hostname>``) and ``redis_auth``
    (``required`` or ``none``) change the stored layout; components they affect are restarted.
    ``None`` keeps the stored layout. The stack then stays up until ``down``, even when a run
    had booted it.
    """
    if redis_auth is not None and redis_auth not in REDIS_AUTH_CHOICES:
        raise ValueError(f"redis auth must be one of {', '.join(REDIS_AUTH_CHOICES)}")
    with locked(root):
        state = load_state(root) or State(root=str(root))
        health = state.health()
        relayout = _apply_layout(state, worker_name, redis_auth)
        wanted = {name for name, alive in health.items() if not alive} | relayout
        _start(state, wanted, health)
        state.started_by = "up"
        _save_and_catch_up(state, started=bool(wanted))
        return state, bool(wanted)


def start(root: Path, components: Iterable[str]) -> list[str]:
    """Start the named components that are stopped; return those started. Owner unchanged."""
    names = _known(components)
    with locked(root):
        state = _existing(root)
        health = state.health()
        wanted = {name for name in names if not health[name]}
        _start(state, wanted, health)
        _save_and_catch_up(state, started=bool(wanted))
        return [name for name in COMPONENTS if name in wanted]


def stop(root: Path, components: Iterable[str]) -> list[str]:
    """Stop the named components that run; return those stopped. Owner unchanged."""
    names = _known(components)
    with locked(root):
        state = _existing(root)
        health = state.health()
        stopped = [name for name in COMPONENTS if name in names and health[name]]
        _stop(state, stopped)
        save_state(state)
        return stopped


def down(root: Path = DEFAULT_ROOT) -> bool:
    """Stop every component; keep the data and artifacts for the next `up`. False if none ran."""
    with locked(root):
        state = load_state(root)
        if state is None:
            return False
        _stop(state, COMPONENTS)
        monitoring.stop_all(root)
        security.stop_tls(root)
        state.started_by = ""
        save_state(state)
        return True


def join_run(root: Path = DEFAULT_ROOT) -> Joined:
    """A run starts using the sandbox: take a lease; boot the stack only if nothing of it runs."""
    with locked(root):
        state = load_state(root) or State(root=str(root))
        health = state.health()
        booted = not any(health.values())
        if booted:
            try:
                _start(state, set(COMPONENTS), health)
            except BaseException:
                _stop(state, COMPONENTS)  # a half-booted stack would be left "partly stopped"
                save_state(state)
                raise
            state.started_by = "run"
        _save_and_catch_up(state, started=booted)
        leases.take(root)
        stopped = tuple(name for name, alive in state.health().items() if not alive)
        return Joined(state, booted, stopped)


def leave_run(root: Path = DEFAULT_ROOT) -> bool:
    """A run is done: release its lease; the last run out stops a stack that a run started.

    Returns whether the stack was stopped.
    """
    with locked(root):
        leases.release(root)
        state = load_state(root)
        if state is None or state.started_by != "run" or leases.holders(root):
            return False
        _stop(state, COMPONENTS)
        monitoring.stop_all(root)
        security.stop_tls(root)
        state.started_by = ""
        save_state(state)
        return True


def _known(components: Iterable[str]) -> set[str]:
    names = set(components)
    unknown = sorted(names - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown component {', '.join(unknown)}; known: {', '.join(COMPONENTS)}")
    return names


def _existing(root: Path) -> State:
    state = load_state(root)
    if state is None or not state.pg_port:
        raise ValueError(f"no sandbox in {root}: start it with lms-opscheck-sandbox up")
    return state


def _apply_layout(state: State, worker_name: str | None, redis_auth: str | None) -> set[str]:
    """Store a new layout; return the components that must restart to take it."""
    restart: set[str] = set()
    if redis_auth is not None and redis_auth != state.redis_auth:
        state.redis_auth = redis_auth
        restart |= {"redis", "api", "worker"}  # the API and the worker hold Redis URLs
    if worker_name is not None and worker_name != state.worker_name:
        state.worker_name = worker_name
        restart.add("worker")
    return restart


def _save_and_catch_up(state: State, *, started: bool) -> None:
    if started:
        state.started_at = datetime.now(UTC).isoformat(timespec="seconds")
    save_state(state)
    if state.status()["postgres"] == "running":  # neither stopped nor hung on purpose
        _cron(state)


def _start(state: State, wanted: set[str], health: dict[str, bool]) -> None:
    """(Re)start the ``wanted`` components; a running worker follows a restarted Redis."""
    root = state.dir
    if "postgres" in wanted:
        _stop(state, ["postgres"])
        _start_postgres(state)
    if "redis" in wanted:
        stop_process(state.redis_pid)
        state.redis_port = _same_port_if_free(state.redis_port)
        if state.redis_auth == "none":
            state.redis_password = ""
        else:
            state.redis_password = state.redis_password or secrets.token_hex(16)
        state.redis_pid = start_redis(root / "redis", state.redis_port, state.redis_password)
    if "api" in wanted:
        stop_process(state.api_pid)
        state.api_port = _same_port_if_free(state.api_port)
        state.api_pid = _start_api(state)
    if "worker" in wanted or ("redis" in wanted and health.get("worker")):
        stop_process(state.worker_pid)
        state.worker_pid = _start_worker(state)


def _stop(state: State, components: Iterable[str]) -> None:
    names = set(components)
    if "worker" in names:
        stop_process(state.worker_pid)
    if "api" in names:
        stop_process(state.api_pid)
    if "redis" in names:
        stop_process(state.redis_pid)
    if "postgres" in names and state.pg_port:
        resume(state.postgres.pid)  # a paused postmaster would not answer pg_ctl stop
        state.postgres.stop()


def _same_port_if_free(previous: int) -> int:
    """Keep a restarted component on its old port: test ids and alert labels carry the URL."""
    if previous and not port_accepts(previous):
        with contextlib.suppress(OSError), socket.socket() as probe:
            # As the servers bind: connections of the old process in TIME_WAIT do not block it.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", previous))
            return previous
    return free_port()


def _start_postgres(state: State) -> None:
    root = state.dir
    fresh = not (root / "pgdata" / "PG_VERSION").exists()
    state.pg_port = _same_port_if_free(state.pg_port)
    state.pg_superuser_password = state.pg_superuser_password or secrets.token_hex(16)
    state.pg_password = state.pg_password or secrets.token_hex(16)
    server = state.postgres
    if fresh:
        server.initdb(template=CACHE / "pgtemplate")
    server.start()
    if fresh:
        with server.connect() as conn:
            conn.execute(f"CREATE ROLE lms LOGIN PASSWORD '{state.pg_password}'")
            conn.execute("CREATE DATABASE lms OWNER lms")
        with server.connect("lms") as conn:
            conn.execute("SET ROLE lms")
            conn.execute(schema_sql())


def _start_api(state: State) -> int:
    faults = state.dir / "faults"
    faults.mkdir(exist_ok=True)
    # A sandbox made before the synthetic account existed gets its password now.
    state.smoke_password = state.smoke_password or secrets.token_urlsafe(18)
    env = {
        "SANDBOX_API_VERSION": accounts.VERSION,
        "SANDBOX_API_SMOKE_EMAIL": accounts.SMOKE_EMAIL,
        "SANDBOX_API_SMOKE_PASSWORD": state.smoke_password,
        "SANDBOX_API_DATABASE_DSN": (
            f"host=127.0.0.1 port={state.pg_port} dbname=lms user=lms password={state.pg_password}"
        ),
        "SANDBOX_API_REDIS_URL": state.redis_url(0),
        "SANDBOX_API_FAULTS_DIR": str(faults),
        "SANDBOX_API_LOG_FILE": str(state.dir / "logs" / app_logs.LOG_NAME),
    }
    log = state.dir / "logs" / "api.log"
    pid = spawn(
        [
            sys.executable,
            "-m",
            "lms_opscheck.sandbox.api",
            "--host",
            "127.0.0.1",
            "--port",
            str(state.api_port),
        ],
        log,
        env=env,
        cwd=state.dir,
    )
    # uvicorn listens once the app has started; the health answer itself may be a fault's.
    wait_until(lambda: port_accepts(state.api_port), 20, "sandbox API", log)
    return pid


def _start_worker(state: State) -> int:
    # Without --hostname, Celery names the worker celery@<hostname>, as the LMS's compose does.
    naming = ["--hostname", state.worker_name] if state.worker_name else []
    return spawn(
        [
            *(sys.executable, "-m", "celery", "-A", "lms_opscheck.sandbox.worker", "worker"),
            *naming,
            *("-Q", "emails,progress,certificates,webhooks"),  # worker.QUEUES (imports celery)
            *("--pool", "solo", "--without-gossip", "--without-mingle"),
            *("--loglevel", "WARNING"),
        ],
        state.dir / "logs" / "worker.log",
        env={"SANDBOX_BROKER_URL": state.broker_url},
        cwd=state.dir,
    )


def _cron(state: State) -> None:
    """What production's schedulers would have done by now: tonight's backup, this week's drill."""
    now = datetime.now(UTC)
    backups = state.dir / "backups"
    newest = artifacts.refresh_backups(state.postgres, "lms", backups / "db", now)
    artifacts.refresh_drill_logs(state.postgres, newest, backups / "drill_logs", now)
    app_logs.refresh(state.dir / "logs", state.api_port, now)
    monitoring.catch_up(state.dir, state.api_port, state.postgres)
    security.refresh(state)
