"""Celery measurements: which workers answer a broadcast ping, within a bounded budget.

This speaks Celery's control protocol over a Redis broker exactly as ``celery inspect ping``
does (kombu's Redis transport wire format), but with one redis-py connection of our own, so
that the check writes only what the protocol needs and removes what it can (README, "What the
Celery ping writes"). kombu's own consumer would also sweep binding tables, refresh deadlines
and restore other consumers' unacknowledged messages: none of that belongs in a health check.

  SADD    _kombu.binding.reply.celery.pidbox  <binding of our reply queue>   so replies reach us
  PUBLISH /<db>.celery.pidbox  <ping>         once per broadcast, at most len(WINDOWS) times
          (each worker: SMEMBERS the table, LPUSH <oid>.reply.celery.pidbox <pong>; we BRPOP it)
  SREM + DEL in one transaction at the end: the binding and any reply left in our queue.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import redis

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import CeleryTarget, RedisTarget, Timeouts
from lms_opscheck.probes.errors import Unreachable
from lms_opscheck.probes.redis_ping import call, client

#: Celery's default ``control_exchange``.
EXCHANGE = "celery"
#: How long each broadcast listens for answers: a live worker over Redis misses about one
#: broadcast in five at 0.5 s, so each retry waits longer (back-off), within the budget.
WINDOWS = (0.5, 1.0, 2.0)
#: Once enough workers answered, listen this much longer for workers answering at the same time.
SETTLE = 0.05
#: kombu's separator in binding members and priority queue names, and its priority steps.
_SEP = "\x06\x16"
_PRIORITIES = ("", f"{_SEP}3", f"{_SEP}6", f"{_SEP}9")


@dataclass(frozen=True)
class WorkerPing:
    broker: str
    #: Every worker that answered, in order of answer, whatever its name.
    answered: tuple[str, ...]
    #: Those whose name starts with the target's ``worker_prefix`` (all of them without one).
    workers: tuple[str, ...]
    prefix: str | None
    broadcasts: int
    #: Subscribers each broadcast reached (Redis PUBLISH's answer): 0 means no worker listens.
    reached: tuple[int, ...]
    elapsed: timedelta

    def __str__(self) -> str:
        names = ", ".join(self.answered) or "none"
        return (
            f"{len(self.answered)} worker(s) answered ping on {self.broker} after "
            f"{self.broadcasts} broadcast(s) in {format_duration(self.elapsed)}: {names}"
        )


def ping_workers(target: CeleryTarget, timeouts: Timeouts, budget: timedelta) -> WorkerPing:
    """Broadcast until enough workers answered or the budget is spent; tell a dead broker apart."""
    broker = target.broker
    started = time.monotonic()
    # BRPOP blocks up to a whole window: the socket must wait longer than that.
    listen = timeouts.request + timedelta(seconds=max(WINDOWS))
    with client(broker, timeouts, read_timeout=listen) as conn:
        try:  # broker down or credentials rejected: an error, never "no worker answered"
            call(broker, conn.ping)
        except Unreachable as exc:
            raise Unreachable(exc.target, f"broker unreachable ({exc.problem})") from None
        with _reply_queue(conn, broker) as queue:
            answered, reached = _broadcasts(conn, queue, target, broker.db, budget, started)
    matching = tuple(n for n in answered if n.startswith(target.worker_prefix or ""))
    elapsed = timedelta(seconds=time.monotonic() - started)
    return WorkerPing(
        broker.label, answered, matching, target.worker_prefix, len(reached), reached, elapsed
    )


@dataclass(frozen=True)
class _Queue:
    oid: str

    @property
    def name(self) -> str:
        return f"{self.oid}.reply.{EXCHANGE}.pidbox"

    @property
    def keys(self) -> list[str]:
        return [self.name + priority for priority in _PRIORITIES]

    @property
    def table(self) -> str:
        return f"_kombu.binding.reply.{EXCHANGE}.pidbox"

    @property
    def member(self) -> str:
        return _SEP.join([self.oid, "", self.name])


@contextmanager
def _reply_queue(conn: redis.Redis, broker: RedisTarget) -> Iterator[_Queue]:
    """Our reply queue's binding, removed at the end with whatever replies are left in it."""
    queue = _Queue(str(uuid.uuid4()))
    call(broker, lambda: conn.sadd(queue.table, queue.member))
    try:
        yield queue
    finally:
        try:
            with conn.pipeline(transaction=True) as pipe:
                pipe.srem(queue.table, queue.member)
                pipe.delete(*queue.keys)
                pipe.execute()
        except redis.RedisError:
            pass  # the broker went away mid-check: the measurement already reports that


def _broadcasts(
    conn: redis.Redis,
    queue: _Queue,
    target: CeleryTarget,
    db: int,
    budget: timedelta,
    started: float,
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    answered: dict[str, None] = {}  # ordered set
    reached: list[int] = []
    prefix = target.worker_prefix or ""

    def enough() -> bool:
        return sum(1 for name in answered if name.startswith(prefix)) >= target.min_workers

    for window in WINDOWS:
        left = budget.total_seconds() - (time.monotonic() - started)
        if left < SETTLE:
            break
        window = min(window, left)
        ping = _ping_message(queue.oid, window)
        reached.append(int(call(target.broker, partial(conn.publish, _topic(db), ping))))
        window_end = time.monotonic() + window
        while (wait := window_end - time.monotonic()) > 0.01 and not enough():
            item = call(target.broker, partial(conn.brpop, queue.keys, timeout=wait))
            if item is None:
                break  # the window passed quietly
            answered.update(dict.fromkeys(_workers_in(item[1])))
        if enough():
            # Timed here, not by BRPOP: before Redis 7 a blocking timeout ends on the server's
            # cron tick (10 Hz by default), so 50 ms lasted up to 100.
            time.sleep(max(0.0, min(SETTLE, window_end - time.monotonic())))
            for raw in _waiting(conn, queue, target.broker):
                answered.update(dict.fromkeys(_workers_in(raw)))
            break
    return tuple(answered), tuple(reached)


def _waiting(conn: redis.Redis, queue: _Queue, broker: RedisTarget) -> list[bytes]:
    """The replies waiting in our queue, oldest first, read without blocking (and without a
    write: the clean-up deletes the lists)."""

    def take() -> list[list[bytes]]:
        with conn.pipeline(transaction=False) as pipe:
            for key in queue.keys:
                pipe.lrange(key, 0, -1)
            return list(pipe.execute())

    return [raw for listed in call(broker, take) for raw in reversed(listed)]


def _topic(db: int) -> str:
    return f"/{db}.{EXCHANGE}.pidbox"


def _ping_message(oid: str, window: float) -> str:
    """kombu's Redis envelope around Celery's ``ping`` control message (JSON, base64 body)."""
    message = {
        "method": "ping",
        "arguments": {},
        "destination": None,
        "pattern": None,
        "matcher": None,
        "ticket": str(uuid.uuid4()),
        "reply_to": {"exchange": f"reply.{EXCHANGE}.pidbox", "routing_key": oid},
    }
    return json.dumps(
        {
            "body": base64.b64encode(json.dumps(message).encode()).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"clock": 1, "expires": time.time() + window},
            "properties": {
                "delivery_mode": 2,
                "delivery_info": {"exchange": f"{EXCHANGE}.pidbox", "routing_key": ""},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    )


def _workers_in(raw: bytes | str) -> list[str]:
    """The worker names in one reply (``{"celery@host": {"ok": "pong"}}``); none if unreadable."""
    try:
        envelope = json.loads(raw)
        body = json.loads(base64.b64decode(envelope["body"]))
    except (ValueError, KeyError, TypeError):
        return []
    return [str(name) for name in body] if isinstance(body, dict) else []
