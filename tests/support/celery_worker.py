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
    root: Path, broker_url: str, client: redis.Redis, name: str | None = None, listening: int = 1
) -> Iterator[int]:
    """A solo worker named ``name`` (Celery's default ``celery@<host>`` when None).

    Heartbeats, gossip and mingle are off so that every PUBLISH on the broker is the check's.
    Ready once it listens to the control broadcast (a pattern subscription on ``client``'s Redis:
    ``listening`` connections with one, counting the workers already there).
    """
    argv = [sys.executable, "-m", "celery", "-A", "lms_opscheck.sandbox.worker", "worker"]
    argv += ["--hostname", name] if name else []
    argv += ["-Q", "emails", "--pool", "solo", "--without-gossip", "--without-mingle"]
    argv += ["--without-heartbeat", "--loglevel", "WARNING"]
    log = root / "worker.log"
    pid = spawn(argv, log, env={"SANDBOX_BROKER_URL": broker_url}, cwd=root)
    try:
        wait_until(lambda: _pattern_listeners(client) >= listening, 30, "Celery worker", log)
        yield pid
    finally:
        stop(pid)


def _pattern_listeners(client: redis.Redis) -> int:
    # PUBSUB NUMPAT counts distinct patterns: two workers on the same one count once.
    return sum(1 for c in client.client_list() if int(c.get("psub", 0)) > 0)
