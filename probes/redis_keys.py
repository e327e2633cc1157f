"""Redis keys counted by pattern with SCAN (never KEYS, which blocks the server on a large
keyspace): a bounded COUNT hint per call and a cap on the calls of the whole triage.

A scan stopped by the cap says so (``complete`` False): its counts are lower bounds, good
enough to fail on, never to pass on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import redis

from lms_opscheck.config.incident import RedisKeys
from lms_opscheck.config.model import RedisTarget, Timeouts
from lms_opscheck.probes.redis_ping import call, client

#: keys whose values are read per MGET
_BATCH = 500


@dataclass(frozen=True)
class PatternCount:
    pattern: str
    keys: int
    #: keys whose failure count reached ``locked_at`` (lockout patterns only)
    locked: int
    examples: tuple[str, ...]  # locked (else matching) keys, at most ``shown``


@dataclass(frozen=True)
class KeyCounts:
    target: str
    lockouts: tuple[PatternCount, ...]
    rate_limits: tuple[PatternCount, ...]
    scan_calls: int
    complete: bool  # every pattern's SCAN reached cursor 0 within max_scan_calls
    keyspace: int  # DBSIZE of the db scanned

    @property
    def locked_out(self) -> int:
        return sum(p.locked for p in self.lockouts)

    @property
    def rate_limit_keys(self) -> int:
        return sum(p.keys for p in self.rate_limits)


def count_keys(target: RedisTarget, timeouts: Timeouts, rules: RedisKeys) -> KeyCounts:
    budget = [rules.max_scan_calls]
    with client(target, timeouts) as conn:
        keyspace = int(call(target, conn.dbsize))
        lockouts, complete = [], True
        for pattern in rules.lockout_patterns:
            found, done = _scan(target, conn, pattern, rules.scan_count, budget)
            complete &= done
            lockouts.append(_lockouts(target, conn, pattern, found, rules))
        limits = []
        for pattern in rules.rate_limit_patterns:
            found, done = _scan(target, conn, pattern, rules.scan_count, budget)
            complete &= done
            limits.append(PatternCount(pattern, len(found), 0, tuple(sorted(found)[: rules.shown])))
    return KeyCounts(
        target.label,
        tuple(lockouts),
        tuple(limits),
        rules.max_scan_calls - budget[0],
        complete,
        keyspace,
    )


def _scan(
    target: RedisTarget, conn: redis.Redis, pattern: str, count: int, budget: list[int]
) -> tuple[set[str], bool]:
    """Keys matching ``pattern`` (a key SCAN returns twice counts once); False when the cap
    stopped the scan before the cursor came back to 0."""
    found: set[str] = set()
    cursor = 0
    while budget[0] > 0:
        budget[0] -= 1
        cursor, keys = call(target, partial(conn.scan, cursor, match=pattern, count=count))
        found.update(k.decode(errors="replace") if isinstance(k, bytes) else str(k) for k in keys)
        if cursor == 0:
            return found, True
    return found, False


def _lockouts(
    target: RedisTarget, conn: redis.Redis, pattern: str, keys: set[str], rules: RedisKeys
) -> PatternCount:
    ordered = sorted(keys)
    if rules.locked_at is None:
        return PatternCount(pattern, len(keys), len(keys), tuple(ordered[: rules.shown]))
    locked: list[str] = []
    for start in range(0, len(ordered), _BATCH):
        batch = ordered[start : start + _BATCH]
        values = call(target, partial(conn.mget, batch))
        locked += [key for key, value in zip(batch, values, strict=True) if _reached(value, rules)]
    return PatternCount(pattern, len(keys), len(locked), tuple(locked[: rules.shown]))


def _reached(value: object, rules: RedisKeys) -> bool:
    assert rules.locked_at is not None
    if value is None:  # expired between SCAN and MGET
        return False
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    try:
        return int(text.strip()) >= rules.locked_at
    except ValueError:
        return True  # not a counter: the key itself marks the lockout
