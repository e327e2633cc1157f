"""A real streaming replica of a private stack's PostgreSQL (pg_basebackup -R), on its own port."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from lms_opscheck.sandbox import stack
from lms_opscheck.sandbox.postgres import PostgresServer
from lms_opscheck.sandbox.processes import free_port, wait_until


@contextmanager
def streaming_replica(state: stack.State) -> Iterator[PostgresServer]:
    """A hot standby streaming from ``state``'s server; stopped at the end, even on failure.

    It lives in the stack's folder: PostgreSQL runs as ``nobody``, which cannot reach pytest's
    0700 temporary folders."""
    primary = state.postgres
    root = state.dir / "replica"
    root.mkdir(mode=0o755)
    replica = PostgresServer(root / "standby", free_port(), primary.superuser_password, primary.bin)
    subprocess.run(
        [
            primary.tool("pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary.port),
            "-U", "postgres", "-D", str(replica.data_dir), "-R", "-X", "stream",
            "--no-sync", "-c", "fast",
        ],
        check=True, capture_output=True, timeout=120,
        env={**os.environ, "PGPASSWORD": primary.superuser_password},
    )  # fmt: skip
    replica._chown(replica.data_dir, recursive=True)
    os.chmod(replica.data_dir, 0o700)
    try:
        replica.start()

        def streaming() -> bool:
            with primary.connect() as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_replication").fetchone()
            return bool(row and row[0])

        wait_until(streaming, 30, "the replica streaming")
        yield replica
    finally:
        replica.stop()
