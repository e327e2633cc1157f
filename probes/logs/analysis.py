"""What the log analysis (errors) and the access-log review (requests) make of parsed lines.

A *burst* is more than N events within any sliding ``burst_window`` (default 60 s): from one
client for 401/403 answers, from all clients together for 429 and 5xx answers. A *lockout* is
``lockout_failures`` 401 answers on a login path to one client within ``lockout_period``. A
*scanner request* is a request whose path contains an entry of ``scanner_paths``
(case-insensitive); one answered below 400 was *served*.

The LMS logs each request twice in its plain-text format: an ``app.request`` line (timestamp, no
client) and a uvicorn access line (client, no timestamp). Requests are counted once: from the
lines that name the client (uvicorn access lines, JSON records with a client) when the window has
any, else from ``app.request`` lines (``clients_known`` is then False: per-client rules cannot
be measured).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from lms_opscheck.config.logs import LogPolicy
from lms_opscheck.probes.logs.lines import Record, signature
from lms_opscheck.probes.logs.tally import (
    ClientBursts,
    Lockouts,
    MinuteBuckets,
    Peak,
    SlidingPeak,
    TopCounter,
)

EXAMPLE_LENGTH = 300
#: Error lines kept for the incident triage's evidence (the newest of the window).
NEWEST = 50


@dataclass(frozen=True)
class ErrorSummary:
    errors: int
    #: The busiest sliding hour: how many error lines, from when (epoch seconds).
    busiest_hour: Peak
    #: (signature, count, one example line) — most frequent first.
    signatures: tuple[tuple[str, int, str], ...]
    approximate: bool
    #: The newest error lines of the window, oldest first (``NEWEST`` at most), as logged.
    newest: tuple[str, ...] = ()


class ErrorTally:
    def __init__(self, levels: list[str], top: int) -> None:
        self.levels = frozenset(level.upper() for level in levels)
        self.top = top
        self.errors = 0
        self.minutes = MinuteBuckets()
        self.signatures = TopCounter()
        self.examples: dict[str, str] = {}
        self.newest: deque[tuple[float, Record]] = deque(maxlen=NEWEST)

    def add(self, record: Record, t: float) -> None:
        if (record.level or "").upper() not in self.levels:
            return
        self.errors += 1
        self.minutes.add(t)
        self.newest.append((t, record))
        key = signature(record)
        self.signatures.add(key)
        if key not in self.examples and len(self.examples) < 4 * self.signatures.keep:
            self.examples[key] = record.message[:EXAMPLE_LENGTH]

    def summary(self) -> ErrorSummary:
        return ErrorSummary(
            errors=self.errors,
            busiest_hour=self.minutes.busiest(60),
            signatures=tuple(
                (key, count, self.examples.get(key, ""))
                for key, count in self.signatures.top(self.top)
            ),
            approximate=self.signatures.approximate,
            newest=tuple(_shown(t, record) for t, record in sorted(self.newest, key=_time)),
        )


def _time(entry: tuple[float, Record]) -> float:
    return entry[0]


def _shown(t: float, record: Record) -> str:
    logger = f" [{record.logger}]" if record.logger else ""
    stamp = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} UTC {record.level}{logger} {record.message[:EXAMPLE_LENGTH]}"


@dataclass(frozen=True)
class Signal:
    """One kind of suspicious answer in the window."""

    total: int
    #: The densest burst_window (per-client signals: of the worst client).
    peak: Peak
    #: Clients over the per-client limit (bursts, or scanner requests in the window).
    offenders: tuple[Peak, ...]
    offender_count: int
    clients: tuple[tuple[str, int], ...]
    paths: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Served:
    client: str
    path: str
    status: int
    at: float


@dataclass(frozen=True)
class AccessSummary:
    source: str
    clients_known: bool
    auth_failures: Signal
    rate_limited: Signal
    server_errors: Signal
    scanner: Signal
    served_scanner: tuple[Served, ...]
    served_count: int
    lockouts: tuple[Peak, ...]
    lockout_count: int
    approximate: bool


class _SignalTally:
    def __init__(self, width: float, limit: int, per_client: bool) -> None:
        self.total = 0
        self.limit = limit
        self.clients = TopCounter()
        self.paths = TopCounter()
        self.bursts = ClientBursts(width, limit) if per_client else None
        self.overall = SlidingPeak(width, cap=max(10 * limit, 1000))

    def add(self, client: str, path: str, t: float) -> None:
        self.total += 1
        self.clients.add(client)
        self.paths.add(path[:200])
        if self.bursts is not None:
            self.bursts.add(client, t)
        else:
            self.overall.add(t)

    def signal(self, top: int, *, by_total: bool = False) -> Signal:
        if by_total:  # scanner requests: a client's total in the window
            over = self.clients.over(self.limit)
            offenders = tuple(Peak(count, 0.0, client) for client, count in over[:top])
            first = offenders[0] if offenders else Peak(0, 0.0)
            return Signal(self.total, first, offenders, len(over), *self._tops(top))
        if self.bursts is not None:
            bursts = self.bursts
            worst = bursts.worst(top)
            peak = bursts.densest
            return Signal(self.total, peak, worst, bursts.offender_count, *self._tops(top))
        return Signal(self.total, self.overall.peak, (), 0, *self._tops(top))

    def _tops(self, top: int) -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]:
        return self.clients.top(top), self.paths.top(top)


class _Requests:
    """The tallies of one source of request lines."""

    def __init__(self, policy: LogPolicy) -> None:
        width = policy.burst_window.total_seconds()
        self.seen = 0
        self.auth = _SignalTally(width, policy.max_auth_failures_per_client, per_client=True)
        self.limited = _SignalTally(width, policy.max_rate_limited, per_client=False)
        self.server = _SignalTally(width, policy.max_server_errors, per_client=False)
        self.scanner = _SignalTally(width, policy.max_scanner_requests_per_client, False)
        self.lockouts = Lockouts(policy.lockout_failures, policy.lockout_period.total_seconds())
        self.served: list[Served] = []
        self.served_count = 0


class AccessTally:
    def __init__(self, policy: LogPolicy) -> None:
        self.policy = policy
        self.auth_statuses = frozenset(policy.auth_failure_statuses)
        self.login_paths = frozenset(policy.login_paths)
        self.scanner_paths = tuple(p.lower() for p in policy.scanner_paths)
        self.with_client = _Requests(policy)
        self.app_lines = _Requests(policy)

    def add(self, record: Record, t: float) -> None:
        status, path = record.status, record.path
        if status is None or path is None:
            return
        into = self.with_client if record.client else self.app_lines
        client = record.client or "-"
        into.seen += 1
        if status in self.auth_statuses:
            into.auth.add(client, path, t)
        if status == 429:
            into.limited.add(client, path, t)
        if 500 <= status <= 599:
            into.server.add(client, path, t)
        if status == 401 and path.split("?", 1)[0] in self.login_paths:
            into.lockouts.failed_login(client, t)
        lowered = path.lower()
        if any(entry in lowered for entry in self.scanner_paths):
            into.scanner.add(client, path, t)
            if status < 400:
                into.served_count += 1
                if len(into.served) < 100:
                    into.served.append(Served(client, path[:200], status, t))

    def summary(self) -> AccessSummary:
        top = self.policy.top
        known = self.with_client.seen > 0 or self.app_lines.seen == 0
        chosen = self.with_client if known else self.app_lines
        source = (
            "access lines naming the client (uvicorn access lines, JSON records)"
            if known
            else "app.request lines (they do not name the client)"
        )
        tallies = (chosen.auth, chosen.limited, chosen.server, chosen.scanner)
        return AccessSummary(
            source=source,
            clients_known=known,
            auth_failures=chosen.auth.signal(top),
            rate_limited=chosen.limited.signal(top),
            server_errors=chosen.server.signal(top),
            scanner=chosen.scanner.signal(top, by_total=True),
            served_scanner=tuple(chosen.served[:top]),
            served_count=chosen.served_count,
            lockouts=tuple(chosen.lockouts.events[:top]),
            lockout_count=chosen.lockouts.count,
            approximate=any(t.clients.approximate or t.paths.approximate for t in tallies),
        )
