"""Redis measurements with bounded timeouts and no silent retries."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import RedisTarget, Timeouts
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Rejected, Unreachable


@dataclass(frozen=True)
class RedisPing:
    target: str
    round_trip: timedelta
    version: str
    #: True when a connection without credentials is refused (NOAUTH).
    requires_auth: bool

    def __str__(self) -> str:
        return f"{self.target} answered PING in {format_duration(self.round_trip)}"


def client(target: RedisTarget, timeouts: Timeouts, *, anonymous: bool = False) -> redis.Redis:
    # redis-py retries 3 times with backoff by default: a 2 s timeout became 27 s on a hung server.
    return redis.Redis(
        host=target.host,
        port=target.port,
        db=target.db,
        username=None if anonymous else target.username,
        password=None if anonymous or not target.password else target.password.get_secret_value(),
        ssl=target.tls,
        socket_connect_timeout=timeouts.connect.total_seconds(),
        socket_timeout=timeouts.request.total_seconds(),
        retry=Retry(NoBackoff(), 0),
        client_name="lms-opscheck",
    )


def ping_redis(target: RedisTarget, timeouts: Timeouts) -> RedisPing:
    started = time.perf_counter()
    with client(target, timeouts) as conn:
        _call(target, conn.ping)
        round_trip = timedelta(seconds=time.perf_counter() - started)
        info = _call(target, lambda: conn.info("server"))
    version = str(info.get("redis_version", "unknown")) if isinstance(info, dict) else "unknown"
    # Probed even when no password is configured: an open Redis is the finding, not a skip.
    return RedisPing(target.label, round_trip, version, _refuses_anonymous(target, timeouts))


def _refuses_anonymous(target: RedisTarget, timeouts: Timeouts) -> bool:
    with client(target, timeouts, anonymous=True) as conn:
        try:
            conn.ping()
        except redis.AuthenticationError:
            return True
        except redis.ResponseError as exc:
            return "NOAUTH" in str(exc) or "auth" in str(exc).lower()
        except redis.RedisError as exc:
            raise _classify(target, exc) from None
    return False


def _call(target: RedisTarget, command: object) -> object:
    assert callable(command)
    try:
        return command()
    except redis.RedisError as exc:
        raise _classify(target, exc) from None


def _classify(target: RedisTarget, exc: redis.RedisError) -> MeasurementError:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, redis.AuthenticationError) or "NOAUTH" in text or "WRONGPASS" in text:
        return Rejected(target.label, f"credentials rejected ({text})")
    if isinstance(exc, redis.TimeoutError):
        return NoAnswer(target.label, f"no answer within the timeout ({text})")
    if isinstance(exc, redis.ConnectionError):
        return Unreachable(target.label, text)
    return MeasurementError(target.label, text)
