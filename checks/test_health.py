"""System health: the API, PostgreSQL, Redis and the Celery workers answer (runbook 2.1)."""

from __future__ import annotations

import pytest

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import CeleryTarget, Policy
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.probes.celery_ping import WorkerPing
from lms_opscheck.probes.http import HttpReply
from lms_opscheck.probes.postgres import DatabasePing
from lms_opscheck.probes.redis_ping import RedisPing

RUNBOOK = "2.1 System Health Check"


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.control(
    "HLT-01",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Runbook 3.1 API Unavailability: check `docker logs api`, restart the API.",
)
def test_api_replica_answers_liveness_within_latency_slo(
    api_health: HttpReply, policy: Policy, evidence: EvidenceLog
) -> None:
    """Every API replica answers GET /api/v1/health with 200 {"status":"ok"} within the SLO."""
    slo = format_duration(policy.api_latency)
    latency = format_duration(api_health.latency)
    evidence.record("status", api_health.status, threshold="200", target=api_health.url)
    evidence.record("latency", latency, threshold=f"<= {slo}", target=api_health.url)
    body = api_health.json()
    assert api_health.status == 200, f"{api_health.url} answered {api_health.status}; expected 200"
    assert isinstance(body, dict) and body.get("status") == "ok", (
        f'{api_health.url} answered {api_health.body[:120]!r}; expected {{"status": "ok"}}'
    )
    assert api_health.latency <= policy.api_latency, (
        f"{api_health.url} answered in {latency}; the latency SLO is {slo}"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.control(
    "HLT-02",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Check the dependency named degraded: runbook 3.1 Database Failure or Redis.",
)
def test_api_replica_is_ready_with_its_dependencies_up(
    api_ready: HttpReply, evidence: EvidenceLog
) -> None:
    """Every API replica reports ready: GET /api/v1/ready is 200 with database and redis up."""
    body = api_ready.json()
    deps = {k: v for k, v in body.items() if k != "status"} if isinstance(body, dict) else {}
    down = sorted(name for name, state in deps.items() if state != "up")
    evidence.record("status", api_ready.status, threshold="200", target=api_ready.url)
    evidence.record("dependencies", deps or api_ready.body[:120], target=api_ready.url)
    assert api_ready.status == 200 and not down, (
        f"{api_ready.url} answered {api_ready.status}, degraded: {', '.join(down) or 'unknown'} "
        f"({api_ready.body[:120]}); expected 200 with every dependency up"
    )
    assert {"database", "redis"} <= deps.keys(), (
        f"{api_ready.url} does not report database and redis: {api_ready.body[:120]}"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.control(
    "HLT-03",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Runbook 3.1 Database Failure: pg_isready, PostgreSQL logs, restart db.",
)
def test_database_answers_select_1_within_latency_slo(
    database_ping: DatabasePing, policy: Policy, evidence: EvidenceLog
) -> None:
    """PostgreSQL accepts a read-only session and answers SELECT 1 within the latency SLO."""
    round_trip, slo = format_duration(database_ping.round_trip), format_duration(policy.api_latency)
    evidence.record("server_version", database_ping.server_version, target=database_ping.target)
    evidence.record("round_trip", round_trip, threshold=f"<= {slo}", target=database_ping.target)
    assert database_ping.read_only, f"{database_ping.target}: the check's session is not read-only"
    assert database_ping.round_trip <= policy.api_latency, (
        f"{database_ping.target} answered SELECT 1 in {round_trip}; the latency SLO is {slo}"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.control(
    "HLT-04",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Check `redis-cli ping` and the Redis logs; rate limits and sessions depend on it.",
)
def test_redis_answers_ping_and_requires_auth(
    redis_ping: RedisPing, policy: Policy, evidence: EvidenceLog
) -> None:
    """Redis answers an authenticated PING within the SLO, and refuses one without credentials."""
    round_trip, slo = format_duration(redis_ping.round_trip), format_duration(policy.api_latency)
    evidence.record("version", redis_ping.version, target=redis_ping.target)
    evidence.record("round_trip", round_trip, threshold=f"<= {slo}", target=redis_ping.target)
    evidence.record(
        "refuses_anonymous", redis_ping.requires_auth, threshold="True", target=redis_ping.target
    )
    assert redis_ping.round_trip <= policy.api_latency, (
        f"{redis_ping.target} answered PING in {round_trip}; the latency SLO is {slo}"
    )
    assert redis_ping.requires_auth, (
        f"{redis_ping.target} answered PING without a password; auth must be required"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.control(
    "HLT-05",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Check the celery-worker containers and their logs; restart the workers.",
)
def test_enough_celery_workers_answer_ping(
    workers_ping: WorkerPing, celery: CeleryTarget, evidence: EvidenceLog
) -> None:
    """At least the configured number of Celery workers answer a broadcast ping."""
    answered = len(workers_ping.workers)
    evidence.record(
        "workers", answered, threshold=f">= {celery.min_workers}", target=workers_ping.broker
    )
    evidence.record("names", ", ".join(workers_ping.workers) or "none", target=workers_ping.broker)
    evidence.record("attempts", workers_ping.attempts, target=workers_ping.broker)
    assert answered >= celery.min_workers, (
        f"{answered} Celery worker(s) answered ping on {workers_ping.broker} "
        f"after {workers_ping.attempts} attempt(s) in {format_duration(workers_ping.elapsed)}; "
        f"at least {celery.min_workers} expected (no worker answered is not a broker failure)"
    )
