"""Where a sandbox lives, how it is laid out, and what runs: ``state.json`` and its lock."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lms_opscheck.sandbox import accounts, monitoring, security
from lms_opscheck.sandbox.postgres import PostgresServer, bin_dir
from lms_opscheck.sandbox.processes import is_alive, is_paused, port_accepts

PACKAGE = Path(__file__).resolve().parent.parent
COMPONENTS = ("postgres", "redis", "api", "worker")
#: The sample application's Alembic revisions; their head is the sandbox database's revision.
MIGRATIONS = Path(__file__).resolve().parent / "lms_app_sample" / "migrations" / "versions"
REDIS_AUTH_CHOICES = ("required", "none")
#: Redis layout of a new sandbox. The LMS's compose files run Redis without a password ("none");
#: hardened deployments set requirepass ("required"). The lead chooses the default here.
DEFAULT_REDIS_AUTH = "required"


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
#: ``$LMS_OPSCHECK_SANDBOX_CACHE`` lets a private root reuse an existing cache.
CACHE = Path(os.environ.get("LMS_OPSCHECK_SANDBOX_CACHE") or DEFAULT_ROOT / "cache").resolve()


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
    #: Password of the synthetic account (accounts.SMOKE_EMAIL) the post-deploy gate logs in as.
    smoke_password: str = ""
    api_port: int = 0
    api_pid: int = 0
    worker_pid: int = 0
    started_at: str = ""
    #: ``--worker-name`` of the Celery worker; empty: Celery's default ``celery@<hostname>``,
    #: which is how the LMS's compose files start their workers (no ``-n``).
    worker_name: str = ""
    #: ``required`` (requirepass set) or ``none`` (the LMS's compose files).
    redis_auth: str = DEFAULT_REDIS_AUTH
    #: Who started the running stack: ``up`` (a person or a self-test: it stays up) or ``run``
    #: (a ``pytest --env sandbox`` run: the last run holding a lease stops it).
    started_by: str = ""
    components: dict[str, bool] = field(default_factory=dict)  # unused; kept for old files

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
    def worker_node_name(self) -> str:
        """The name the worker answers pings with, as Celery derives it from ``--hostname``."""
        from celery.utils.nodenames import default_nodename, host_format  # imports celery: lazy

        return str(host_format(default_nodename(self.worker_name or None)))

    def redis_url(self, db: int) -> str:
        auth = f":{self.redis_password}@" if self.redis_password else ""
        return f"redis://{auth}127.0.0.1:{self.redis_port}/{db}"

    @property
    def broker_url(self) -> str:
        return self.redis_url(1)

    def environ(self) -> dict[str, str]:
        """The variables environments/sandbox.yaml interpolates."""
        return {
            "SANDBOX_API_URL": f"http://127.0.0.1:{self.api_port}",
            "SANDBOX_PG_PORT": str(self.pg_port),
            "SANDBOX_PG_PASSWORD": self.pg_password,
            "SANDBOX_PG_SUPERUSER_PASSWORD": self.pg_superuser_password,
            "SANDBOX_PG_BIN": str(bin_dir(CACHE)),
            "SANDBOX_REDIS_PORT": str(self.redis_port),
            "SANDBOX_REDIS_PASSWORD": self.redis_password,  # empty when redis_auth is none
            "SANDBOX_BACKUP_DIR": str(self.dir / "backups" / "db"),
            "SANDBOX_DRILL_LOG_DIR": str(self.dir / "backups" / "drill_logs"),
            "SANDBOX_FAULTS_DIR": str(self.dir / "faults"),
            "SANDBOX_APP_LOG_DIR": str(self.dir / "logs"),
            "SANDBOX_APP_VERSION": accounts.VERSION,
            "SANDBOX_MIGRATIONS_DIR": str(MIGRATIONS),
            "SANDBOX_SMOKE_EMAIL": accounts.SMOKE_EMAIL,
            "SANDBOX_SMOKE_PASSWORD": self.smoke_password,
            **monitoring.environ(self.dir),
            **security.environ(self.dir),
        }

    def pid_of(self, component: str) -> int | None:
        if component == "postgres":
            return self.postgres.pid if self.pg_port else None  # from postmaster.pid
        return {"redis": self.redis_pid, "api": self.api_pid, "worker": self.worker_pid}[component]

    def health(self) -> dict[str, bool]:
        """Whether each component's process lives (and, for servers, its port accepts)."""
        ports = {"postgres": self.pg_port, "redis": self.redis_port, "api": self.api_port}
        return {
            name: is_alive(self.pid_of(name)) and (name not in ports or port_accepts(ports[name]))
            for name in COMPONENTS
        }

    def status(self) -> dict[str, str]:
        """``running``, ``hung`` (paused by ``fault hang``) or ``stopped``, per component."""
        return {
            name: ("hung" if is_paused(self.pid_of(name)) else "running") if alive else "stopped"
            for name, alive in self.health().items()
        }


def load_state(root: Path = DEFAULT_ROOT) -> State | None:
    try:
        data = json.loads((root / "state.json").read_text())
        known = {f.name for f in dataclasses.fields(State)}
        return State(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def save_state(state: State) -> None:
    path = state.dir / "state.json"
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(asdict(state), indent=2))
    partial.chmod(0o600)
    partial.replace(path)  # readers without the lock (xdist workers) never see half a file


@contextmanager
def locked(root: Path) -> Iterator[None]:
    """One writer at a time: `up`, `down`, faults and runs that join or leave the sandbox."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
