"""Celery measurements: which workers answer a broadcast ping, within a bounded budget."""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import CeleryTarget, Timeouts
from lms_opscheck.probes.errors import Rejected, Unreachable

if TYPE_CHECKING:
    from celery import Celery

#: One broadcast's wait; a live worker over Redis misses about 1 broadcast in 5 at this value.
ATTEMPT_TIMEOUT = timedelta(milliseconds=500)


@dataclass(frozen=True)
class WorkerPing:
    broker: str
    workers: tuple[str, ...]
    attempts: int
    elapsed: timedelta

    def __str__(self) -> str:
        names = ", ".join(self.workers) or "none"
        return (
            f"{len(self.workers)} worker(s) answered ping on {self.broker} after {self.attempts} "
            f"attempt(s) in {format_duration(self.elapsed)}: {names}"
        )


def ping_workers(target: CeleryTarget, timeouts: Timeouts, budget: timedelta) -> WorkerPing:
    """Ping until ``min_workers`` answered or the budget is spent; tell a dead broker apart."""
    broker = target.broker.label
    app = _probe_app(target, timeouts)
    started = time.monotonic()
    import kombu.exceptions
    import redis

    conn = app.connection_for_write()
    try:
        _check_broker(conn, broker, timeouts)
        # kombu publishes broadcasts with retry=True and no limit (Connection.ensure with
        # max_retries=None): on our own connection, a lost broker fails at once instead.
        conn.ensure = functools.partial(conn.ensure, max_retries=0)
        seen: set[str] = set()
        attempts = 0
        while True:
            attempts += 1
            remaining = budget.total_seconds() - (time.monotonic() - started)
            wait = max(0.05, min(ATTEMPT_TIMEOUT.total_seconds(), remaining))
            replies = app.control.ping(timeout=wait, limit=target.min_workers, connection=conn)
            seen.update(name for reply in replies for name in reply)
            matching = [n for n in seen if n.startswith(target.worker_prefix or "")]
            if len(matching) >= target.min_workers or remaining <= wait:
                break
    except (OSError, kombu.exceptions.OperationalError, redis.RedisError) as exc:
        raise Unreachable(broker, f"broker lost during ping ({_first_line(exc)})") from None
    finally:
        conn.release()
        app.close()
    elapsed = timedelta(seconds=time.monotonic() - started)
    return WorkerPing(broker, tuple(sorted(matching)), attempts, elapsed)


def _probe_app(target: CeleryTarget, timeouts: Timeouts) -> Celery:
    from celery import Celery  # imported here: it costs ~0.3 s and only this check needs it

    connect = timeouts.connect.total_seconds()
    request = timeouts.request.total_seconds()
    app = Celery("lms-opscheck", set_as_current=False)
    app.conf.update(
        broker_url=target.broker.url(reveal=True),
        broker_connection_timeout=connect,
        broker_connection_retry=False,
        broker_connection_retry_on_startup=False,
        broker_connection_max_retries=0,
        broker_transport_options={
            "socket_connect_timeout": connect,
            "socket_timeout": request,
            "max_retries": 0,
        },
        result_backend=None,
    )
    return app


def _check_broker(conn: Any, broker: str, timeouts: Timeouts) -> None:
    """One bounded connection attempt, so 'broker down' is not mistaken for 'no worker'."""
    import kombu.exceptions
    import redis

    try:
        conn.ensure_connection(max_retries=0, timeout=timeouts.connect.total_seconds())
        conn.default_channel.client.ping()
    except redis.AuthenticationError as exc:
        raise Rejected(broker, f"broker rejected the credentials ({exc})") from None
    except redis.ResponseError as exc:
        if "NOAUTH" in str(exc) or "WRONGPASS" in str(exc):
            raise Rejected(broker, f"broker rejected the credentials ({exc})") from None
        raise Unreachable(broker, f"broker error ({exc})") from None
    except (kombu.exceptions.OperationalError, redis.RedisError, OSError) as exc:
        raise Unreachable(broker, f"broker unreachable ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
