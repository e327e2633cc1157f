"""Bounded aggregates of log events: counts, top-N, sliding-window bursts, hourly peaks.

Memory stays flat however many lines and clients a log holds: counters keep at most a few
thousand keys (pruned to the largest, so a long tail's counts become lower bounds and
``approximate`` says so), burst trackers keep only the events inside one window per client and
forget idle clients.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


class TopCounter:
    """Counts per key; past ``4 x keep`` keys it keeps the ``keep`` largest (then approximate)."""

    def __init__(self, keep: int = 1000) -> None:
        self.keep = keep
        self.counts: dict[str, int] = {}
        self.approximate = False

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount
        if len(self.counts) > 4 * self.keep:
            largest = sorted(self.counts.items(), key=lambda kv: -kv[1])[: self.keep]
            self.counts = dict(largest)
            self.approximate = True

    def top(self, n: int) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n])

    def over(self, limit: int) -> tuple[tuple[str, int], ...]:
        return tuple(sorted(((k, c) for k, c in self.counts.items() if c > limit), key=_desc))


def _desc(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


@dataclass(frozen=True)
class Peak:
    """The densest ``width`` of a stream: ``events`` starting at ``at`` (epoch s), by ``key``."""

    events: int
    at: float
    key: str = ""


class SlidingPeak:
    """The most events within any ``width`` seconds (deque capped at ``cap``: "at least")."""

    def __init__(self, width: float, cap: int = 100_000) -> None:
        self.width = width
        self.cap = cap
        self.times: deque[float] = deque()
        self.peak = Peak(0, 0.0)

    def add(self, t: float, key: str = "") -> int:
        times = self.times
        if times and t < times[-1]:
            t = times[-1]  # lines a few ms out of order: keep the window monotonic
        times.append(t)
        while times[0] < t - self.width or len(times) > self.cap:
            times.popleft()
        if len(times) > self.peak.events:
            self.peak = Peak(len(times), times[0], key)
        return len(times)


class ClientBursts:
    """Per-client sliding peaks; a client over ``limit`` is an offender (kept with its peak)."""

    def __init__(self, width: float, limit: int, keep: int = 1000) -> None:
        self.width = width
        self.limit = limit
        self.keep = keep
        self._active: dict[str, SlidingPeak] = {}
        self.offenders: dict[str, Peak] = {}
        self.offender_count = 0
        self.densest = Peak(0, 0.0)

    def add(self, client: str, t: float) -> None:
        tracker = self._active.get(client)
        if tracker is None:
            if len(self._active) >= 20_000:
                self._forget_idle(t)
            tracker = self._active[client] = SlidingPeak(self.width, cap=max(self.limit + 1, 64))
        events = tracker.add(t, client)
        if events > self.densest.events:
            self.densest = tracker.peak
        if events > self.limit:
            known = self.offenders.get(client)
            if known is None:
                self.offender_count += 1
            if (known is None and len(self.offenders) < self.keep) or (
                known is not None and events > known.events
            ):
                self.offenders[client] = tracker.peak

    def _forget_idle(self, now: float) -> None:
        self._active = {c: p for c, p in self._active.items() if p.times[-1] >= now - self.width}

    def worst(self, n: int) -> tuple[Peak, ...]:
        return tuple(sorted(self.offenders.values(), key=lambda p: (-p.events, p.key))[:n])


class MinuteBuckets:
    """Event counts per minute; the busiest sliding hour at the end (exact to the minute)."""

    def __init__(self) -> None:
        self.minutes: dict[int, int] = {}

    def add(self, t: float) -> None:
        minute = int(t // 60)
        self.minutes[minute] = self.minutes.get(minute, 0) + 1

    def busiest(self, span_minutes: int = 60) -> Peak:
        best = Peak(0, 0.0)
        keys = sorted(self.minutes)
        total, left = 0, 0
        for minute in keys:
            total += self.minutes[minute]
            while keys[left] <= minute - span_minutes:
                total -= self.minutes[keys[left]]
                left += 1
            if total > best.events:
                best = Peak(total, float(keys[left] * 60))
        return best


class Lockouts:
    """Lockouts inferred from failed logins: ``failures`` within ``period`` lock a client out
    for ``period`` (the LMS's 5 failures / 900 s); failures while locked start nothing new."""

    def __init__(self, failures: int, period: float, keep: int = 1000) -> None:
        self.failures = failures
        self.period = period
        self.keep = keep
        self._recent: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self.events: list[Peak] = []
        self.count = 0

    def failed_login(self, client: str, t: float) -> None:
        if self._locked_until.get(client, float("-inf")) > t:
            return
        recent = self._recent.setdefault(client, deque(maxlen=self.failures))
        recent.append(t)
        if len(recent) == self.failures and t - recent[0] <= self.period:
            self.count += 1
            if len(self.events) < self.keep:
                self.events.append(Peak(self.failures, recent[0], client))
            self._locked_until[client] = t + self.period
            recent.clear()
        if len(self._recent) > 20_000:
            self._recent = {c: d for c, d in self._recent.items() if d and d[-1] >= t - self.period}
            self._locked_until = {c: u for c, u in self._locked_until.items() if u > t}
