"""The sandbox stack: PostgreSQL, Redis, the reference API and a Celery worker in one folder."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from lms_opscheck.sandbox import artifacts, security
from lms_opscheck.sandbox.postgres import PostgresServer, bin_dir
from lms_opscheck.sandbox.processes import (
    free_port,
    is_alive,
    port_accepts,
    spawn,
    stop,
    wait_until,
)
from lms_opscheck.sandbox.redis_server import start_redis
from lms_opscheck.sandbox.schema import schema_sql

PACKAGE = Path(__file__).resolve().parent.parent


def _default_root() -> Path:
    """``$LMS_OPSCHECK_SANDBOX_DIR``; else ``.sandbox`` in a checkout; else the user's state dir."""
    chosen = os.environ.get("LMS_OPSCHECK_SANDBOX_DIR")
    if chosen:
        return Path(chosen).resolve()
    if (PACKAGE / "pyproject.toml").is_file():  # a checkout: keep it beside the code (git-ignored)
        return PACKAGE / ".sandbox"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "lms-opscheck" / "sandbox"


DEFAULT_ROOT = _default_root()
#: Binaries and the template cluster, shared by every sandbox root (self-tests start many).
CACHE = DEFAULT_ROOT / "cache"
WORKER_NAME = "lms-worker@sandbox"


@dataclass
class State:
    """Everything needed to find, use and stop a running sandbox (kept in ``state.json``)."""

    root: str
    pg_port: int = 0
    pg_password: str = ""
    pg_superuser_password: str = ""
    redis_port: int = 0
    redis_password: str = ""
    redis_pid: int = 0
    api_port: int = 0
    api_pid: int = 0
    worker_pid: int = 0
    started_at: str = ""
    components: dict[str, bool] = field(default_factory=dict)

    @property
    def dir(self) -> Path:
        return Path(self.root)

    @property
    def postgres(self) -> PostgresServer:
        return PostgresServer(
            self.dir / "pgdata",
            self.pg_port,
            self.pg_superuser_password,
            bin_dir(CACHE),
        )

    @property
    def broker_url(self) -> str:
        return f"redis://:{self.redis_password}@127.0.0.1:{self.redis_port}/1"

    def environ(self) -> dict[str, str]:
        """The variables environments/sandbox.yaml interpolates."""
        return {
            "SANDBOX_API_URL": f"http://127.0.0.1:{self.api_port}",
            "SANDBOX_PG_PORT": str(self.pg_port),
            "SANDBOX_PG_PASSWORD": self.pg_password,
            "SANDBOX_PG_SUPERUSER_PASSWORD": self.pg_superuser_password,
            "SANDBOX_PG_BIN": str(bin_dir(CACHE)),
            "SANDBOX_REDIS_PORT": str(self.redis_port),
            "SANDBOX_REDIS_PASSWORD": self.redis_password,
            "SANDBOX_BACKUP_DIR": str(self.dir / "backups" / "db"),
            "SANDBOX_DRILL_LOG_DIR": str(self.dir / "backups" / "drill_logs"),
            "SANDBOX_FAULTS_DIR": str(self.dir / "faults"),
            **security.environ(self.dir),
        }

    def health(self) -> dict[str, bool]:
        return {
            "postgres": is_alive(self.postgres.pid) and port_accepts(self.pg_port),
            "redis": is_alive(self.redis_pid) and port_accepts(self.redis_port),
            "api": is_alive(self.api_pid) and port_accepts(self.api_port),
            "worker": is_alive(self.worker_pid),
        }


def load_state(root: Path = DEFAULT_ROOT) -> State | None:
    try:
        return State(**json.loads((root / "state.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _save(state: State) -> None:
    path = state.dir / "state.json"
    path.write_text(json.dumps(asdict(state), indent=2))
    path.chmod(0o600)


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One booter at a time: concurrent `pytest --env sandbox` runs share a single stack."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def up(root: Path = DEFAULT_ROOT) -> tuple[State, bool]:
    """Start whatever is not running; return the state and whether anything was started."""
    with _locked(root):
        state = load_state(root) or State(root=str(root))
        before = state.health() if state.pg_port else {}
        if before and all(before.values()):
            _cron(state)
            return state, False
        _start_missing(state, before)
        state.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        _save(state)
        _cron(state)
        return state, True


def _start_missing(state: State, running: dict[str, bool]) -> None:
    root = state.dir
    if not running.get("postgres"):
        _start_postgres(state)
    if not running.get("redis"):
        stop(state.redis_pid)
        state.redis_port = _same_port_if_free(state.redis_port)
        state.redis_password = state.redis_password or secrets.token_urlsafe(16)
        state.redis_pid = start_redis(root / "redis", state.redis_port, state.redis_password)
    if not running.get("api"):
        stop(state.api_pid)
        state.api_port = _same_port_if_free(state.api_port)
        state.api_pid = _start_api(state)
    if not running.get("worker") or not running.get("redis"):
        stop(state.worker_pid)
        state.worker_pid = spawn(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "lms_opscheck.sandbox.worker",
                "worker",
                "--hostname",
                WORKER_NAME,
                "-Q",
                "emails,progress,certificates,webhooks",
                "--pool",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "WARNING",
            ],
            root / "logs" / "worker.log",
            env={"SANDBOX_BROKER_URL": state.broker_url},
            cwd=root,
        )


def _same_port_if_free(previous: int) -> int:
    """Keep a restarted component on its old port: test ids and alert labels carry the URL."""
    if previous and not port_accepts(previous):
        with contextlib.suppress(OSError), socket.socket() as probe:
            probe.bind(("127.0.0.1", previous))
            return previous
    return free_port()


def _start_postgres(state: State) -> None:
    root = state.dir
    fresh = not (root / "pgdata" / "PG_VERSION").exists()
    state.pg_port = _same_port_if_free(state.pg_port)
    state.pg_superuser_password = state.pg_superuser_password or secrets.token_urlsafe(16)
    state.pg_password = state.pg_password or secrets.token_urlsafe(16)
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
    env = {
        "SANDBOX_API_DATABASE_DSN": (
            f"host=127.0.0.1 port={state.pg_port} dbname=lms user=lms password={state.pg_password}"
        ),
        "SANDBOX_API_REDIS_URL": f"redis://:{state.redis_password}@127.0.0.1:{state.redis_port}/0",
        "SANDBOX_API_FAULTS_DIR": str(faults),
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
    url = f"http://127.0.0.1:{state.api_port}/api/v1/health"
    wait_until(lambda: httpx.get(url, timeout=0.5).status_code == 200, 20, "sandbox API", log)
    return pid


def _cron(state: State) -> None:
    """What production's schedulers would have done by now: tonight's backup, this week's drill."""
    now = datetime.now(UTC)
    backups = state.dir / "backups"
    newest = artifacts.refresh_backups(state.postgres, "lms", backups / "db", now)
    artifacts.refresh_drill_logs(state.postgres, newest, backups / "drill_logs", now)
    security.refresh(state)


def down(root: Path = DEFAULT_ROOT) -> bool:
    """Stop every component; keep the data and artifacts for the next `up`. False if none ran."""
    with _locked(root):
        state = load_state(root)
        if state is None:
            return False
        for pid in (state.worker_pid, state.api_pid, state.redis_pid):
            stop(pid)
        security.stop_tls(root)
        state.postgres.stop()
        state.worker_pid = state.api_pid = state.redis_pid = 0
        _save(state)
        return True
