"""System health: the API, PostgreSQL, Redis and the Celery workers answer (runbook 2.1).

One control, one rule: whether a component answers, how fast, and whether it is protected are
separate controls, so that a waiver or a severity applies to exactly the rule it names.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import ApiTarget, CeleryTarget, Policy
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.probes.celery_ping import WorkerPing
from lms_opscheck.probes.http import HttpReply
from lms_opscheck.probes.metrics import Scrape
from lms_opscheck.probes.postgres import DatabasePing
from lms_opscheck.probes.redis_ping import RedisPing

RUNBOOK = "2.1 System Health Check"
SLO = "policy.api_latency"


def _within_latency_slo(
    evidence: EvidenceLog,
    name: str,
    measured: timedelta,
    policy: Policy,
    target: str,
    request: str,
) -> None:
    """One rule for HLT-06/07/08: ``target`` answered ``request`` within policy.api_latency."""
    slo = format_duration(policy.api_latency)
    evidence.record(name, measured, threshold=f"<= {slo}", target=target)
    assert measured <= policy.api_latency, (
        f"{target} answered {request}in {format_duration(measured)}; "
        f"the latency SLO is {slo} ({SLO})"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "HLT-01",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Runbook 3.1 API Unavailability: check `docker logs api`, restart the API. "
    "A 400 'Invalid host header' means the replica refuses the Host sent: set "
    "targets.api.host_header to a name in the application's TRUSTED_HOSTS.",
)
def test_api_replica_answers_liveness(api_health: HttpReply, evidence: EvidenceLog) -> None:
    """Every API replica answers GET /api/v1/health with 200 {"status":"ok"}."""
    evidence.record("status", api_health.status, threshold="200", target=api_health.sent)
    body = api_health.json()
    assert api_health.status == 200, (
        f"{api_health.sent} answered {api_health.status} {api_health.excerpt()}; expected 200"
    )
    assert isinstance(body, dict) and body.get("status") == "ok", (
        f'{api_health.sent} answered {api_health.excerpt()}; expected {{"status": "ok"}}'
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "HLT-06",
    severity="high",
    runbook=RUNBOOK,
    remediation="Check the replica's CPU, event loop and database pool (runbook 3.1); the "
    "Grafana latency dashboard shows whether it is this replica or all of them.",
)
def test_api_replica_answers_within_latency_slo(
    api_health: HttpReply, policy: Policy, evidence: EvidenceLog
) -> None:
    """Every API replica answers its liveness GET within the latency SLO."""
    _within_latency_slo(evidence, "latency", api_health.latency, policy, api_health.sent, "")


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.p1
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
    evidence.record("status", api_ready.status, threshold="200", target=api_ready.sent)
    evidence.record("dependencies", deps or api_ready.excerpt(), target=api_ready.sent)
    assert api_ready.status == 200 and not down, (
        f"{api_ready.sent} answered {api_ready.status}, degraded: {', '.join(down) or 'unknown'} "
        f"({api_ready.excerpt()}); expected 200 with every dependency up"
    )
    assert {"database", "redis"} <= deps.keys(), (
        f"{api_ready.sent} does not report database and redis: {api_ready.excerpt()}"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.control(
    "HLT-10",
    severity="medium",
    runbook="2.1 Monitoring Review",
    remediation="Prometheus scrapes /metrics: check the replica's metrics middleware and "
    "targets.api.metrics_path; without these series the latency and error-rate alerts are blind.",
)
def test_api_replica_exposes_its_http_metrics(
    api_metrics: Scrape, api: ApiTarget, evidence: EvidenceLog
) -> None:
    """Every API replica's /metrics answers in Prometheus text format with its http_* series."""
    missing = api_metrics.missing(api.metrics_series)
    evidence.record("status", api_metrics.status, threshold="200", target=api_metrics.sent)
    evidence.record(
        "missing_series",
        len(missing),
        threshold=f"0 of {', '.join(api.metrics_series)}",
        target=api_metrics.sent,
    )
    assert api_metrics.status == 200, (
        f"{api_metrics.sent} answered {api_metrics.status} {api_metrics.excerpt}; expected 200"
    )
    assert api_metrics.problem is None, (
        f"{api_metrics.sent}: {api_metrics.problem}: {api_metrics.excerpt}; "
        "expected the Prometheus text format"
    )
    assert not missing, (
        f"{api_metrics.sent} exposes no {', '.join(missing)}; expected every series of "
        f"targets.api.metrics_series ({', '.join(api.metrics_series)})"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "HLT-03",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Runbook 3.1 Database Failure: pg_isready, PostgreSQL logs, restart db.",
)
def test_database_answers_select_1(database_ping: DatabasePing, evidence: EvidenceLog) -> None:
    """PostgreSQL accepts a read-only session and answers SELECT 1."""
    evidence.record("server_version", database_ping.server_version, target=database_ping.target)
    evidence.record("answered", True, threshold="SELECT 1 = 1", target=database_ping.target)


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "HLT-07",
    severity="high",
    runbook=RUNBOOK,
    remediation="Runbook 3.1 Database Failure: slow queries, CPU and connections on the db host.",
)
def test_database_answers_within_latency_slo(
    database_ping: DatabasePing, policy: Policy, evidence: EvidenceLog
) -> None:
    """PostgreSQL answers connect + SELECT 1 within the latency SLO."""
    _within_latency_slo(
        evidence, "round_trip", database_ping.round_trip, policy, database_ping.target, "SELECT 1 "
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.control(
    "HLT-09",
    severity="medium",
    runbook=RUNBOOK,
    remediation="The suite asks for default_transaction_read_only=on at connect; something "
    "between it and PostgreSQL dropped that option (a pooler's ignore_startup_parameters?). "
    "Connect directly, or `ALTER ROLE <monitoring role> SET default_transaction_read_only = on`.",
)
def test_database_session_of_the_checks_is_read_only(
    database_ping: DatabasePing, evidence: EvidenceLog
) -> None:
    """The checks' PostgreSQL session is read-only, as the suite promises."""
    evidence.record(
        "transaction_read_only",
        database_ping.read_only,
        threshold="True",
        target=database_ping.target,
    )
    assert database_ping.read_only, (
        f"{database_ping.target}: the checks' session reports transaction_read_only off; "
        "expected on (requested with default_transaction_read_only at connect)"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.p2
@pytest.mark.control(
    "HLT-04",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Check `redis-cli ping` and the Redis logs; rate limits and sessions depend on it.",
)
def test_redis_answers_ping(redis_ping: RedisPing, evidence: EvidenceLog) -> None:
    """Redis answers PING with the environment's credentials."""
    evidence.record("version", redis_ping.version, target=redis_ping.target)
    evidence.record("answered", True, threshold="PONG", target=redis_ping.target)


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.p2
@pytest.mark.control(
    "HLT-08",
    severity="high",
    runbook=RUNBOOK,
    remediation="Check Redis' slowlog, memory and CPU (`redis-cli --latency`, `INFO`).",
)
def test_redis_answers_within_latency_slo(
    redis_ping: RedisPing, policy: Policy, evidence: EvidenceLog
) -> None:
    """Redis answers connect + PING within the latency SLO."""
    _within_latency_slo(
        evidence, "round_trip", redis_ping.round_trip, policy, redis_ping.target, "PING "
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.control(
    "HLT-05",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Check the celery-worker containers and their logs; restart the workers. "
    "If workers answered but none matched, fix or remove targets.celery.worker_prefix.",
)
def test_enough_celery_workers_answer_ping(
    workers_ping: WorkerPing, celery: CeleryTarget, evidence: EvidenceLog
) -> None:
    """At least the configured number of Celery workers answer a broadcast ping."""
    counted = len(workers_ping.workers)
    named = f" named {celery.worker_prefix}*" if celery.worker_prefix else ""
    broker = workers_ping.broker
    evidence.record("workers", counted, threshold=f">= {celery.min_workers}", target=broker)
    evidence.record("answered", ", ".join(workers_ping.answered) or "none", target=broker)
    evidence.record("broadcasts", workers_ping.broadcasts, target=broker)
    evidence.record("subscribers_reached", max(workers_ping.reached, default=0), target=broker)
    assert counted >= celery.min_workers, (
        f"{counted} Celery worker(s){named} answered ping on {broker} after "
        f"{workers_ping.broadcasts} broadcast(s) in {format_duration(workers_ping.elapsed)}; "
        f"at least {celery.min_workers} expected; answered: "
        f"{', '.join(workers_ping.answered) or 'none'}; each broadcast reached "
        f"{max(workers_ping.reached, default=0)} subscriber(s) (no worker answering is not a "
        "broker failure)"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.control(
    "SEC-01",
    severity="high",
    runbook="2.2 Security Review",
    remediation="Require authentication on Redis: `requirepass <secret>` (or ACL users with "
    "`user default off`) in redis.conf, then put the password in the application's REDIS_URL "
    "(redis://:<secret>@redis:6379/0) and in CELERY_BROKER_URL / CELERY_RESULT_BACKEND "
    "(db 1 and 2, URL-encoded). If only the application's network can reach Redis, declare "
    "`targets.redis.auth: network-isolated` instead.",
)
def test_redis_refuses_unauthenticated_clients(
    redis_auth: RedisPing, evidence: EvidenceLog
) -> None:
    """Redis refuses clients that present no credentials."""
    evidence.record(
        "refuses_anonymous", redis_auth.requires_auth, threshold="True", target=redis_auth.target
    )
    assert redis_auth.requires_auth, (
        f"{redis_auth.target} answered PING without a password; it must refuse "
        "unauthenticated clients (or be declared targets.redis.auth: network-isolated)"
    )
