"""Redis measurements with bounded timeouts and no silent retries."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import RedisTarget, Timeouts
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Rejected, Unreachable

T = TypeVar("T")


@dataclass(frozen=True)
class RedisPing:
    target: str
    round_trip: timedelta
    version: str
    #: True when a connection without credentials is refused (NOAUTH); None when not probed
    #: because the environment declares this Redis network-isolated.
    requires_auth: bool | None

    def __str__(self) -> str:
        return f"{self.target} answered PING in {format_duration(self.round_trip)}"


def client(
    target: RedisTarget,
    timeouts: Timeouts,
    *,
    anonymous: bool = False,
    read_timeout: timedelta | None = None,
) -> redis.Redis:
    """A client bounded by the environment's timeouts; credentials passed as values, no URL."""
    # redis-py retries 3 times with backoff by default: a 2 s timeout became 27 s on a hung server.
    return redis.Redis(
        host=target.host,
        port=target.port,
        db=target.db,
        username=None if anonymous else target.username,
        password=None if anonymous or not target.password else target.password.get_secret_value(),
        ssl=target.tls,
        socket_connect_timeout=timeouts.connect.total_seconds(),
        socket_timeout=(read_timeout or timeouts.request).total_seconds(),
        retry=Retry(NoBackoff(), 0),
        client_name="lms-opscheck",
    )


def ping_redis(target: RedisTarget, timeouts: Timeouts) -> RedisPing:
    started = time.perf_counter()
    with client(target, timeouts) as conn:
        call(target, conn.ping)
        round_trip = timedelta(seconds=time.perf_counter() - started)
        info = call(target, lambda: conn.info("server"))
    version = str(info.get("redis_version", "unknown")) if isinstance(info, dict) else "unknown"
    # Probed even when no password is configured: an open Redis is the finding, not a skip.
    refuses = _refuses_anonymous(target, timeouts) if target.auth == "required" else None
    return RedisPing(target.label, round_trip, version, refuses)


def _refuses_anonymous(target: RedisTarget, timeouts: Timeouts) -> bool:
    with client(target, timeouts, anonymous=True) as conn:
        try:
            conn.ping()
        except redis.AuthenticationError:
            return True
        except redis.ResponseError as exc:
            return "NOAUTH" in str(exc) or "auth" in str(exc).lower()
        except redis.RedisError as exc:
            raise classify(target.label, exc) from None
    return False


def call(target: RedisTarget, command: Callable[[], T]) -> T:
    try:
        return command()
    except redis.RedisError as exc:
        raise classify(target.label, exc) from None


def classify(label: str, exc: redis.RedisError) -> MeasurementError:
    """Rejected (credentials), NoAnswer (timeout), Unreachable (connection) or the rest."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if (
        isinstance(exc, redis.AuthenticationError)
        or "NOAUTH" in text
        or "WRONGPASS" in text
        or "invalid password" in text.lower()
    ):
        return Rejected(label, f"credentials rejected ({text})")
    if isinstance(exc, redis.TimeoutError):
        return NoAnswer(label, f"no answer within the timeout ({text})")
    if isinstance(exc, redis.ConnectionError):
        return Unreachable(label, text)
    return MeasurementError(label, text)
