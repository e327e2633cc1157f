"""One more sandbox API process (a replica) beside a stack's own: its own port, faults folder,
log file and login limiter, sharing the stack's PostgreSQL and Redis."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lms_opscheck.sandbox import accounts, stack
from lms_opscheck.sandbox.processes import free_port, port_accepts, spawn, stop, wait_until


@dataclass(frozen=True)
class Replica:
    url: str
    faults: Path
    log: Path

    def logins(self) -> int:
        """Login requests that reached this replica (its LMS request log)."""
        if not self.log.exists():
            return 0
        return self.log.read_text().count("POST /api/v1/auth/login -> ")


@contextmanager
def replica_api(state: stack.State, folder: Path, token_prefix: str = "") -> Iterator[Replica]:
    """Started and stopped (even on failure) around the block; ``folder`` holds its files."""
    faults = folder / "faults"
    faults.mkdir(parents=True, exist_ok=True)
    log = folder / "app.log"
    port = free_port()
    env = {
        "SANDBOX_API_DATABASE_DSN": (
            f"host=127.0.0.1 port={state.pg_port} dbname=lms user=lms password={state.pg_password}"
        ),
        "SANDBOX_API_REDIS_URL": state.redis_url(0),
        "SANDBOX_API_FAULTS_DIR": str(faults),
        "SANDBOX_API_LOG_FILE": str(log),
        "SANDBOX_API_VERSION": accounts.VERSION,
        "SANDBOX_API_SMOKE_EMAIL": accounts.SMOKE_EMAIL,
        "SANDBOX_API_SMOKE_PASSWORD": state.smoke_password,
        "SANDBOX_API_TOKEN_PREFIX": token_prefix,
    }
    argv = [sys.executable, "-m", "lms_opscheck.sandbox.api", "--port", str(port)]
    pid = spawn(argv, folder / "uvicorn.log", env=env, cwd=folder)
    try:
        wait_until(lambda: port_accepts(port), 20, "replica API", folder / "uvicorn.log")
        yield Replica(f"http://127.0.0.1:{port}", faults, log)
    finally:
        stop(pid)
