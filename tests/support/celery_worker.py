"""A real Celery worker (the sandbox's app) on a broker of the test's choosing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from lms_opscheck.sandbox.processes import spawn, stop, wait_until


@contextmanager
def celery_worker(
    root: Path, broker_url: str, client: redis.Redis, name: str | None = None
) -> Iterator[int]:
    """A solo worker named ``name`` (Celery's default ``celery@<host>`` when None).

    Heartbeats, gossip and mingle are off so that every PUBLISH on the broker is the check's.
    Ready once it listens to the control broadcast (a pattern subscription on ``client``'s Redis).
    """
    argv = [sys.executable, "-m", "celery", "-A", "lms_opscheck.sandbox.worker", "worker"]
    argv += ["--hostname", name] if name else []
    argv += ["-Q", "emails", "--pool", "solo", "--without-gossip", "--without-mingle"]
    argv += ["--without-heartbeat", "--loglevel", "WARNING"]
    log = root / "worker.log"
    pid = spawn(argv, log, env={"SANDBOX_BROKER_URL": broker_url}, cwd=root)
    try:
        wait_until(lambda: int(client.pubsub_numpat()) >= 1, 30, "Celery worker", log)
        yield pid
    finally:
        stop(pid)
