"""Incident triage: the evidence runbook 3.1 (P1) and 3.2 (P2) ask on-call to gather, read-only.

``pytest -m incident`` runs every triage check; ``-m p1`` the API and database ones, ``-m p2``
the authentication and file storage ones. The health (HLT), capacity (CAP), log (LOG) and
secret (SEC-08) controls that answer a runbook step carry the same markers; the controls here
add what only an incident needs. Every target is measured in the session's one round.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from lms_opscheck.config.durations import format_duration as fmt
from lms_opscheck.config.incident import IncidentTriage
from lms_opscheck.config.levels import percent
from lms_opscheck.config.model import Policy
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.fixtures.logs import assert_examined, record_examined
from lms_opscheck.probes.incident_pg import LockWaits
from lms_opscheck.probes.logs import LogWindow
from lms_opscheck.probes.nodata import NoData
from lms_opscheck.probes.object_storage import BucketAnswer
from lms_opscheck.probes.pg_capacity import PgCapacity
from lms_opscheck.probes.redis_keys import KeyCounts

P1 = "3.1 Critical Incidents (P1)"
P2 = "3.2 High Severity Incidents (P2)"


@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.p2
@pytest.mark.parametrize("app_log", ["incident"], indirect=True)
@pytest.mark.control(
    "INC-01",
    severity="high",
    runbook=P1,
    remediation="Read the newest error lines in the evidence: database or Redis errors lead to "
    "runbook 3.1 Database Failure, authentication errors to 3.2 Authentication Issues.",
)
def test_no_error_lines_in_the_incident_window(
    app_log: LogWindow, policy: Policy, incident: IncidentTriage, evidence: EvidenceLog
) -> None:
    """The application log holds no more error lines than allowed in the incident window."""
    record_examined(evidence, app_log)
    assert_examined(app_log)
    assert app_log.errors is not None
    errors, where, limit = app_log.errors, app_log.location, incident.max_error_lines
    newest = errors.newest[-incident.error_lines_shown :]
    levels = "/".join(policy.logs.error_levels)
    evidence.record("error_lines", errors.errors, threshold=f"<= {limit}", target=where)
    evidence.record("newest_error_lines", list(reversed(newest)), target=where)
    assert errors.errors <= limit, (
        f"{errors.errors} {levels} line(s) in {where} in the last {fmt(app_log.window)} "
        f"(of {app_log.lines} lines); at most {limit} allowed (incident.max_error_lines); "
        "newest first: " + " | ".join(reversed(newest))
    )


@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "INC-02",
    severity="high",
    runbook=P1,
    remediation="Pool exhaustion (runbook 3.1 root causes): find the sessions in the evidence "
    "(idle in transaction? a leak?), restart the API replica holding them, raise DB_POOL_SIZE.",
)
def test_application_connections_leave_room_in_its_pools(
    pg_capacity: PgCapacity, incident: IncidentTriage, evidence: EvidenceLog
) -> None:
    """The application's database connections are below their levels of its pools' size."""
    pg = pg_capacity
    size = require_pool(incident)
    roles = set(incident.pool_roles)
    if pg.hidden:
        raise NoData(
            pg.target,
            f"role {pg.user} cannot read {pg.hidden} other backend(s) in pg_stat_activity: "
            "grant it pg_monitor so that the application's connections can be counted",
        )
    mine = [s for s in pg.sessions if s.user in roles]
    states = dict(Counter(s.state for s in mine))
    ratio = len(mine) / size
    levels = incident.pool_levels
    threshold = f"warning {percent(levels.warning)}, critical {percent(levels.critical)}"
    evidence.record("sessions_examined", len(pg.sessions), threshold=">= 1", target=pg.target)
    evidence.record("application_connections", len(mine), target=pg.target)
    evidence.record("by_state", states, target=pg.target)
    evidence.record("pool_size", size, target=pg.target)
    evidence.record("pool_ratio", ratio * 100, unit="%", threshold=threshold, target=pg.target)
    evidence.record("max_connections", pg.max_connections, target=pg.target)
    assert ratio < levels.critical, (
        f"{pg.target}: the application (role {', '.join(sorted(roles))}) holds {len(mine)} "
        f"connections of its pools' {size} ({percent(ratio)}; {states}); critical level is "
        f"{percent(levels.critical)} (incident.pool_size); max_connections {pg.max_connections}"
    )


def require_pool(incident: IncidentTriage) -> int:
    if incident.pool_size is None:
        pytest.skip(
            "not configured: incident.pool_size is absent (the LMS opens DB_POOL_SIZE + "
            "DB_MAX_OVERFLOW connections per process)"
        )
    return incident.pool_size


@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "INC-03",
    severity="critical",
    runbook=P1,
    remediation="Find the blocking pid in the evidence (pg_stat_activity): end its transaction "
    "or `SELECT pg_terminate_backend(<pid>)` after checking what it is doing.",
)
def test_no_query_waits_on_a_lock_beyond_its_limit(
    lock_waits: LockWaits, incident: IncidentTriage, evidence: EvidenceLog
) -> None:
    """No query has waited on another session's lock longer than allowed."""
    waits, limit = lock_waits, incident.max_lock_wait
    over = [b for b in waits.blocked if b.waiting > limit]
    oldest = waits.blocked[0].waiting if waits.blocked else timedelta(0)
    evidence.record("sessions_examined", waits.sessions, target=waits.target)
    evidence.record("blocked", [str(b) for b in waits.blocked[:10]], target=waits.target)
    evidence.record("longest_wait", oldest, threshold=f"<= {fmt(limit)}", target=waits.target)
    assert not over, (
        f"{waits.target}: {len(over)} quer(ies) waited on a lock longer than {fmt(limit)} "
        f"(incident.max_lock_wait): " + "; ".join(str(b) for b in over[:5])
    )


@pytest.mark.incident
@pytest.mark.p2
@pytest.mark.control(
    "INC-04",
    severity="high",
    runbook=P2,
    remediation="Many clients locked out is an attack or a broken login (runbook 3.2): read the "
    "access log's failed logins (ACC-01/03); unlock by deleting the keys in the evidence once "
    "the cause is fixed.",
)
def test_locked_out_clients_stay_below_the_limit(
    auth_keys: KeyCounts, incident: IncidentTriage, evidence: EvidenceLog
) -> None:
    """Fewer clients are locked out of login (Redis lockout keys, by SCAN) than the limit."""
    keys, rules = auth_keys, incident.redis_keys
    limit = rules.max_locked_out
    for count in keys.lockouts:
        evidence.record(f"lockout {count.pattern}", count.keys, target=keys.target)
    for count in keys.rate_limits:
        evidence.record(f"rate_limit {count.pattern}", count.keys, target=keys.target)
    evidence.record("keyspace", keys.keyspace, target=keys.target)
    evidence.record("scan_calls", keys.scan_calls, threshold=f"<= {rules.max_scan_calls}")
    evidence.record("locked_out", keys.locked_out, threshold=f"<= {limit}", target=keys.target)
    examples = [k for count in keys.lockouts for k in count.examples]
    evidence.record("locked_out_keys", examples, target=keys.target)
    patterns = ", ".join(rules.lockout_patterns)
    at = f" with a count >= {rules.locked_at}" if rules.locked_at else ""
    assert keys.locked_out <= limit, (
        f"{keys.target}: {keys.locked_out}{'' if keys.complete else '+'} client(s) locked out "
        f"(keys {patterns}{at}); at most {limit} allowed (incident.redis_keys.max_locked_out); "
        f"e.g. {', '.join(examples)}; {keys.rate_limit_keys} rate-limit key(s)"
    )
    if not keys.complete:
        raise NoData(
            keys.target,
            f"no verdict: SCAN stopped after {keys.scan_calls} call(s) "
            f"(incident.redis_keys.max_scan_calls) of a {keys.keyspace}-key db before covering "
            f"it; {keys.locked_out} locked-out client(s) found so far",
        )


@pytest.mark.incident
@pytest.mark.p2
@pytest.mark.control(
    "INC-05",
    severity="high",
    runbook=P2,
    remediation="Runbook 3.2 File Storage: check the S3 endpoint, the bucket name and region "
    "(AWS_S3_BUCKET, AWS_REGION) and the network path from the API hosts.",
)
def test_object_storage_serves_the_bucket(
    bucket_answer: BucketAnswer, evidence: EvidenceLog
) -> None:
    """The object storage endpoint answers for the LMS's bucket (403 to anonymous counts)."""
    answer = bucket_answer
    evidence.record("status", answer.status, threshold="200, 204 or 403", target=answer.url)
    evidence.record("latency", answer.latency, target=answer.url)
    assert answer.reachable, (
        f"HEAD {answer.url} answered {answer.meaning()}; expected 200, 204 or 403 "
        "(403: the store refuses anonymous requests to a bucket it serves)"
    )
