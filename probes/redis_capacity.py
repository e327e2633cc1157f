"""Redis capacity: used memory against maxmemory, evicted keys, and Celery queue lengths.

Queue lengths are ``LLEN`` of kombu's list keys on the broker db (the queue's name, and
``<queue>\\x06\\x16<priority>`` for prioritised messages). An empty queue and a misnamed one both
read 0, so a queue counts as measured only when kombu has declared it on that db: a member
``<routing key>\\x06\\x16<pattern>\\x06\\x16<queue>`` of a ``_kombu.binding.*`` set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis

from lms_opscheck.config.model import RedisTarget, Timeouts
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Rejected, Unreachable
from lms_opscheck.probes.redis_ping import client

SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)  # kombu's default steps besides 0 (the bare queue name)
#: bound on the bindings scanned: a broker has a handful of exchanges
MAX_BINDINGS = 1000


@dataclass(frozen=True)
class RedisMemory:
    target: str
    used: int
    maxmemory: int  # 0: unlimited
    policy: str
    evicted_keys: int  # since the server started
    uptime: timedelta


@dataclass(frozen=True)
class QueueLengths:
    broker: str
    lengths: dict[str, int]  # declared queues only
    undeclared: tuple[str, ...]


def memory(target: RedisTarget, timeouts: Timeouts) -> RedisMemory:
    with client(target, timeouts) as conn:
        info: dict[str, Any] = _call(target, lambda: conn.info("everything"))
    try:
        return RedisMemory(
            target=target.label,
            used=int(info["used_memory"]),
            maxmemory=int(info.get("maxmemory", 0)),
            policy=str(info.get("maxmemory_policy", "")),
            evicted_keys=int(info.get("evicted_keys", 0)),
            uptime=timedelta(seconds=int(info.get("uptime_in_seconds", 0))),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MeasurementError(target.label, f"INFO has no usable {exc}") from None


def queue_lengths(broker: RedisTarget, timeouts: Timeouts, queues: Sequence[str]) -> QueueLengths:
    with client(broker, timeouts) as conn:
        declared = _call(broker, lambda: _declared_queues(conn))
        wanted = [q for q in queues if q in declared]
        keys = [
            (q, k) for q in wanted for k in (q, *(f"{q}{SEPARATOR}{p}" for p in PRIORITY_STEPS))
        ]

        def lengths() -> list[int]:
            pipe = conn.pipeline(transaction=False)
            for _, key in keys:
                pipe.llen(key)
            return [int(n) for n in pipe.execute()]

        counted = _call(broker, lengths)
    totals = dict.fromkeys(wanted, 0)
    for (queue, _), length in zip(keys, counted, strict=True):
        totals[queue] += length
    return QueueLengths(broker.label, totals, tuple(q for q in queues if q not in declared))


def _declared_queues(conn: redis.Redis) -> set[str]:
    found: set[str] = set()
    for n, key in enumerate(conn.scan_iter(match="_kombu.binding.*", count=100)):
        if n >= MAX_BINDINGS:
            break
        for member in conn.smembers(key):
            text = member.decode(errors="replace") if isinstance(member, bytes) else str(member)
            found.add(text.split(SEPARATOR)[-1])
    return found


def _call(target: RedisTarget, command: Any) -> Any:
    try:
        return command()
    except redis.AuthenticationError as exc:
        raise Rejected(target.label, f"credentials rejected ({exc})") from None
    except redis.TimeoutError as exc:
        raise NoAnswer(target.label, f"no answer within the timeout ({exc})") from None
    except redis.ConnectionError as exc:
        raise Unreachable(target.label, str(exc) or type(exc).__name__) from None
    except redis.RedisError as exc:
        text = str(exc)
        if "NOAUTH" in text or "WRONGPASS" in text:
            raise Rejected(target.label, f"credentials rejected ({text})") from None
        raise MeasurementError(target.label, text or type(exc).__name__) from None
