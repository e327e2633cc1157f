"""Capacity: disks, PostgreSQL, Redis and the Celery queues are below their levels (2.3).

Each control has a warning and a critical level (policy.capacity): reaching the warning level
passes with a warning and the level in the evidence (a trend to plan for); reaching the critical
level fails. Every figure is evidence, so the textfile graphs it over time.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from lms_opscheck.config.capacity import CapacityPolicy
from lms_opscheck.config.durations import format_duration as fmt
from lms_opscheck.config.levels import percent, size
from lms_opscheck.fixtures.environment import require
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.fixtures.history import EarlierRuns
from lms_opscheck.probes.disk import DiskUsage
from lms_opscheck.probes.errors import Rejected
from lms_opscheck.probes.nodata import NoData
from lms_opscheck.probes.pg_capacity import XID_LIMIT, PgCapacity, Session
from lms_opscheck.probes.redis_capacity import QueueLengths, RedisMemory
from lms_opscheck.probes.thresholds import Level, TwoLevel

RUNBOOK = "2.3 Capacity Planning"
T = TypeVar("T", int, float, timedelta)


class CapacityWarning(UserWarning):
    """A figure reached its warning level: plan capacity before it reaches the critical one."""


def judge(
    evidence: EvidenceLog,
    name: str,
    value: T,
    bounds: tuple[T, T],
    show: Callable[[T], str],
    what: str,
    *,
    unit: str = "",
    target: str | None = None,
    recorded: bool = False,
) -> Level:
    """Record ``value`` (unless already ``recorded``) against its warning and critical levels;
    warn, or fail with ``what``. Ratios are shown in percent (exported as ratios)."""
    __tracebackhide__ = True
    warning, critical = bounds
    level = TwoLevel(warning, critical, lower_is_worse=False).level(value)
    threshold = f"warning {show(warning)}, critical {show(critical)}"
    if not recorded:
        shown, shown_unit = (value * 100, "%") if unit == "ratio" else (value, unit)
        evidence.record(name, shown, unit=shown_unit, threshold=threshold, target=target)
    evidence.record(f"{name}_level", level.value, threshold=threshold, target=target)
    if level is Level.WARNING:
        warnings.warn(CapacityWarning(f"{what}; warning level {show(warning)}"), stacklevel=2)
    assert level is not Level.CRITICAL, f"{what}; critical level is {show(critical)}"
    return level


def _bytes(value: int) -> str:
    return size(value)


@pytest.mark.weekly
@pytest.mark.monthly
@pytest.mark.control(
    "CAP-01",
    severity="high",
    runbook=RUNBOOK,
    remediation="Free or grow the volume (runbook 3.2 File Storage: df -h); check backup pruning.",
)
def test_volume_usage_is_below_its_levels(
    volume_usage: DiskUsage, capacity: CapacityPolicy, evidence: EvidenceLog
) -> None:
    """Each data, backup and uploads volume is below its disk-usage levels."""
    usage, levels = volume_usage, capacity.disk
    evidence.record("used", usage.used, unit="bytes", target=usage.where)
    evidence.record("available", usage.available, unit="bytes", target=usage.where)
    evidence.record("size", usage.size, unit="bytes", target=usage.where)
    judge(
        evidence,
        "used_ratio",
        usage.ratio,
        (levels.warning, levels.critical),
        percent,
        f"volume {usage.volume} ({usage.where}, filesystem {usage.mount}) is "
        f"{percent(usage.ratio)} full: {size(usage.used)} used, {size(usage.available)} free",
        unit="ratio",
        target=usage.where,
    )


@pytest.mark.monthly
@pytest.mark.control(
    "CAP-02",
    severity="medium",
    runbook=RUNBOOK,
    remediation="Plan storage for the database (runbook 4.3); archive or prune per retention.",
)
def test_database_size_is_below_its_levels(
    pg_capacity: PgCapacity, pytestconfig: pytest.Config, evidence: EvidenceLog
) -> None:
    """The LMS database is below its size levels (the size is recorded on every run)."""
    pg = pg_capacity
    evidence.record("database_size", pg.size, unit="bytes", target=pg.target)
    levels = require(pytestconfig, "policy.capacity.database_size")
    judge(
        evidence,
        "database_size",
        pg.size,
        (levels.warning, levels.critical),
        _bytes,
        f"database {pg.database} on {pg.target} is {size(pg.size)}",
        unit="bytes",
        target=pg.target,
        recorded=True,
    )


@pytest.mark.monthly
@pytest.mark.control(
    "CAP-03",
    severity="medium",
    runbook=RUNBOOK,
    remediation="Find the growing tables (pg_total_relation_size); check retention jobs run.",
)
def test_database_growth_since_the_last_run_is_below_its_levels(
    pg_capacity: PgCapacity,
    earlier_runs: EarlierRuns,
    pytestconfig: pytest.Config,
    evidence: EvidenceLog,
) -> None:
    """The database grew no faster than its levels per day since the previous run."""
    pg = pg_capacity
    evidence.record("database_size", pg.size, unit="bytes", target=pg.target)
    previous = earlier_runs.value("database_size", pg.target)
    if previous is None:
        pytest.skip(
            f"no previous run of this environment measured {pg.target} in {earlier_runs.where}: "
            "growth is measured from the second run on"
        )
    interval = datetime.now(UTC) - previous.started_at
    growth = pg.size - int(previous.value)
    per_day = int(growth / max(interval.total_seconds(), 1.0) * 86400)
    evidence.record("previous_size", int(previous.value), unit="bytes", target=previous.run_id)
    evidence.record("interval", interval, target=previous.run_id)
    evidence.record("growth", growth, unit="bytes", target=pg.target)
    levels = require(pytestconfig, "policy.capacity.database_growth_per_day")
    judge(
        evidence,
        "growth_per_day",
        per_day,
        (levels.warning, levels.critical),
        lambda v: f"{size(v)}/day",
        f"database {pg.database} on {pg.target} grew {size(growth)} in {fmt(interval)} "
        f"since run {previous.run_id} ({size(per_day)}/day, now {size(pg.size)})",
        unit="bytes",
        target=pg.target,
    )


@pytest.mark.weekly
@pytest.mark.monthly
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "CAP-04",
    severity="high",
    runbook=RUNBOOK,
    remediation="Check connection pools and leaks (runbook 3.1); raise max_connections (4.3).",
)
def test_database_connections_are_below_their_levels(
    pg_capacity: PgCapacity, capacity: CapacityPolicy, evidence: EvidenceLog
) -> None:
    """Client connections are below their levels of the slots max_connections leaves them."""
    pg, levels = pg_capacity, capacity.db_connections
    ratio = pg.connections / pg.usable_connections
    evidence.record("connections", pg.connections, target=pg.target)
    evidence.record("max_connections", pg.max_connections, target=pg.target)
    evidence.record("reserved_for_superusers", pg.reserved, target=pg.target)
    judge(
        evidence,
        "connections_ratio",
        ratio,
        (levels.warning, levels.critical),
        percent,
        f"{pg.target} has {pg.connections} client connections of the "
        f"{pg.usable_connections} that max_connections {pg.max_connections} leaves "
        f"applications ({percent(ratio)})",
        unit="ratio",
        target=pg.target,
    )


def _sessions_seen(pg: PgCapacity, evidence: EvidenceLog) -> None:
    __tracebackhide__ = True
    evidence.record("sessions_examined", len(pg.sessions), target=pg.target)
    evidence.record("sessions_hidden", pg.hidden, threshold="0", target=pg.target)
    if pg.hidden:
        raise Rejected(
            pg.target,
            f"role {pg.user} cannot read {pg.hidden} other backend(s) in pg_stat_activity: "
            "grant it pg_monitor (pg_read_all_stats) so that no session goes unexamined",
        )


def _oldest(sessions: list[Session]) -> timedelta:
    return sessions[0].age if sessions else timedelta(0)


@pytest.mark.weekly
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "CAP-05",
    severity="medium",
    runbook=RUNBOOK,
    remediation="Find the query (pg_stat_activity, by pid); cancel it, fix the slow query.",
)
def test_no_query_runs_longer_than_its_levels(
    pg_capacity: PgCapacity, capacity: CapacityPolicy, evidence: EvidenceLog
) -> None:
    """No client query has been running longer than its levels."""
    pg, levels = pg_capacity, capacity.long_running_query
    _sessions_seen(pg, evidence)
    active = pg.active()
    evidence.record("longest", [str(s) for s in active[:5]], target=pg.target)
    judge(
        evidence,
        "oldest_query_age",
        _oldest(active),
        (levels.warning, levels.critical),
        fmt,
        f"{pg.target}: the longest running query has run for {fmt(_oldest(active))}"
        + (f" ({active[0]})" if active else " (no active query)"),
        target=pg.target,
    )


@pytest.mark.weekly
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "CAP-06",
    severity="medium",
    runbook=RUNBOOK,
    remediation="Find the idle transaction's client (by pid); fix the code that leaves it open.",
)
def test_no_session_idles_in_transaction_beyond_its_levels(
    pg_capacity: PgCapacity, capacity: CapacityPolicy, evidence: EvidenceLog
) -> None:
    """No session has been idle inside an open transaction beyond its levels."""
    pg, levels = pg_capacity, capacity.idle_in_transaction
    _sessions_seen(pg, evidence)
    idle = pg.idle_in_transaction()
    evidence.record("idle_in_transaction", [str(s) for s in idle[:5]], target=pg.target)
    judge(
        evidence,
        "oldest_idle_in_transaction",
        _oldest(idle),
        (levels.warning, levels.critical),
        fmt,
        f"{pg.target}: a session has been idle in transaction for {fmt(_oldest(idle))}"
        + (f" ({idle[0]})" if idle else " (none is)"),
        target=pg.target,
    )


@pytest.mark.weekly
@pytest.mark.control(
    "CAP-07",
    severity="high",
    runbook=RUNBOOK,
    remediation="Check the replica's network, disk and load; rebuild it if it cannot catch up.",
)
def test_replication_lag_is_below_its_levels(
    pg_capacity: PgCapacity, capacity: CapacityPolicy, evidence: EvidenceLog
) -> None:
    """Every attached replica replays within its lag levels (time, and bytes of WAL)."""
    pg = pg_capacity
    if pg.in_recovery:
        pytest.skip(f"{pg.target} is itself a standby: its primary reports the replication lag")
    if pg.hidden_replicas:
        raise Rejected(
            pg.target, f"role {pg.user} cannot read pg_stat_replication: grant it pg_monitor"
        )
    replicas = pg.replicas
    evidence.record("replicas", len(replicas), threshold=f">= {capacity.min_replicas}")
    evidence.record("attached", [str(r) for r in replicas], target=pg.target)
    assert len(replicas) >= capacity.min_replicas, (
        f"{pg.target} has {len(replicas)} replica(s) attached; at least "
        f"{capacity.min_replicas} expected"
    )
    if not replicas:
        pytest.skip(
            f"no replica is attached to {pg.target} (pg_stat_replication is empty) and none is "
            "required: replication lag is not applicable"
        )
    lag = max((r.lag or timedelta(0) for r in replicas), default=timedelta(0))
    behind = max((r.lag_bytes or 0 for r in replicas), default=0)
    levels, byte_levels = capacity.replication_lag, capacity.replication_lag_bytes
    worst = max(replicas, key=lambda r: (r.lag or timedelta(0), r.lag_bytes or 0))
    what = f"{pg.target}: replica {worst}"
    judge(evidence, "lag", lag, (levels.warning, levels.critical), fmt, what, target=pg.target)
    judge(
        evidence,
        "lag_bytes",
        behind,
        (byte_levels.warning, byte_levels.critical),
        _bytes,
        what,
        unit="bytes",
        target=pg.target,
    )


@pytest.mark.monthly
@pytest.mark.control(
    "CAP-08",
    severity="critical",
    runbook=RUNBOOK,
    remediation="VACUUM (FREEZE) the oldest database's oldest tables; check autovacuum runs.",
)
def test_transaction_id_wraparound_headroom(
    pg_capacity: PgCapacity, capacity: CapacityPolicy, evidence: EvidenceLog
) -> None:
    """The oldest unfrozen transaction id of every database is far from wraparound (2^31)."""
    pg, levels = pg_capacity, capacity.xid_age
    if not pg.xid_ages:
        raise NoData(pg.target, "no data: pg_database returned no database")
    database, age = pg.xid_ages[0]
    evidence.record("oldest_database", database, target=pg.target)
    evidence.record("xid_age", age, threshold=f"< {XID_LIMIT}", target=pg.target)
    evidence.record("headroom", XID_LIMIT - age, target=pg.target)
    judge(
        evidence,
        "xid_age_ratio",
        age / XID_LIMIT,
        (levels.warning, levels.critical),
        percent,
        f"database {database} on {pg.target} is {age:,} transactions old "
        f"({percent(age / XID_LIMIT)} of the 2^31 before wraparound, {XID_LIMIT - age:,} left)",
        unit="ratio",
        target=pg.target,
    )


@pytest.mark.weekly
@pytest.mark.monthly
@pytest.mark.control(
    "CAP-09",
    severity="high",
    runbook=RUNBOOK,
    remediation="Find the big keys (redis-cli --bigkeys); raise maxmemory (runbook 4.3).",
)
def test_redis_memory_is_below_its_levels(
    redis_memory: RedisMemory, capacity: CapacityPolicy, evidence: EvidenceLog
) -> None:
    """Redis' used memory is below its levels of maxmemory (or of the configured limit)."""
    mem, levels = redis_memory, capacity.redis_memory
    evidence.record("used_memory", mem.used, unit="bytes", target=mem.target)
    evidence.record("maxmemory", mem.maxmemory, unit="bytes", target=mem.target)
    evidence.record("maxmemory_policy", mem.policy, target=mem.target)
    limit, source = mem.maxmemory, "maxmemory"
    if limit == 0:
        if capacity.redis_memory_limit is None:
            pytest.skip(
                f"{mem.target} runs with maxmemory 0 (unlimited) and no "
                "policy.capacity.redis_memory_limit is configured: its used memory "
                f"({size(mem.used)}) has no limit to be compared with"
            )
        limit, source = capacity.redis_memory_limit, "policy.capacity.redis_memory_limit"
    ratio = mem.used / limit
    judge(
        evidence,
        "memory_ratio",
        ratio,
        (levels.warning, levels.critical),
        percent,
        f"{mem.target} uses {size(mem.used)} of {source} {size(limit)} ({percent(ratio)})",
        unit="ratio",
        target=mem.target,
    )


@pytest.mark.weekly
@pytest.mark.control(
    "CAP-10",
    severity="medium",
    runbook=RUNBOOK,
    remediation="Redis is evicting keys (sessions, rate limits, token blacklist): add memory.",
)
def test_redis_evicted_no_keys_beyond_its_levels(
    redis_memory: RedisMemory,
    capacity: CapacityPolicy,
    earlier_runs: EarlierRuns,
    evidence: EvidenceLog,
) -> None:
    """Redis evicted no more keys since the previous run (or its start) than its levels."""
    mem, levels = redis_memory, capacity.redis_evictions
    evidence.record("evicted_keys", mem.evicted_keys, target=mem.target)
    evidence.record("uptime", mem.uptime, target=mem.target)
    previous = earlier_runs.value("evicted_keys", mem.target)
    since = "its start"
    evicted = mem.evicted_keys
    if previous is not None:
        elapsed = datetime.now(UTC) - previous.started_at
        if mem.uptime >= elapsed and mem.evicted_keys >= previous.value:
            evicted = mem.evicted_keys - int(previous.value)
            since = f"run {previous.run_id} ({fmt(elapsed)} ago)"
    judge(
        evidence,
        "evicted_since",
        evicted,
        (levels.warning, levels.critical),
        str,
        f"{mem.target} evicted {evicted} key(s) since {since} (policy {mem.policy})",
        target=mem.target,
    )


@pytest.mark.weekly
@pytest.mark.incident
@pytest.mark.control(
    "CAP-11",
    severity="high",
    runbook=RUNBOOK,
    remediation="Check the Celery workers consume the queue (runbook 2.1); add workers.",
)
def test_celery_queues_are_below_their_levels(
    celery_queues: QueueLengths, capacity: CapacityPolicy, evidence: EvidenceLog
) -> None:
    """Every Celery queue on the broker holds fewer messages than its levels."""
    queues, levels = celery_queues, capacity.queue_length
    for queue, length in queues.lengths.items():
        evidence.record(f"queue_{queue}", length, target=queues.broker)
    evidence.record("undeclared", list(queues.undeclared), threshold="none", target=queues.broker)
    if queues.undeclared:
        raise NoData(
            queues.broker,
            f"no data: queue(s) {', '.join(queues.undeclared)} are not declared on this broker "
            "db (no kombu binding): a wrong db or queue name would read as empty",
        )
    longest = max(queues.lengths, key=lambda q: queues.lengths[q])
    judge(
        evidence,
        "longest_queue",
        queues.lengths[longest],
        (levels.warning, levels.critical),
        str,
        f"Celery queue {longest} on {queues.broker} holds {queues.lengths[longest]} message(s)",
        target=queues.broker,
    )
