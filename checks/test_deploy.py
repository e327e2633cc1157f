"""Deploy: after an update every replica runs the release, the schema is at head, the API works
(runbook 4.1 Application Updates, 4.2 Schema Migrations).

The health, readiness and security-header controls (HLT-*, SEC-05) carry the post_deploy
marker too: ``pytest -m post_deploy`` is this module and them.
"""

from __future__ import annotations

import pytest

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import Environment
from lms_opscheck.fixtures.deploy import Expected, ExpectedHead, error_rate_gate
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.probes.alembic import DatabaseRevision
from lms_opscheck.probes.deploy_version import DeployedVersion
from lms_opscheck.probes.error_rate import ErrorRates
from lms_opscheck.probes.http import HttpReply
from lms_opscheck.probes.smoke import LoginFlow

UPDATES = "4.1 Application Updates"
MIGRATIONS = "4.2 Schema Migrations"


@pytest.mark.post_deploy
@pytest.mark.control(
    "DEP-01",
    severity="critical",
    runbook=UPDATES,
    remediation="A replica runs another release: it was not restarted, the rollout stopped "
    "half-way, or an old container is still behind the load balancer. Redeploy it, or roll "
    "every replica back (runbook 4.1 rollback plan).",
)
def test_replica_runs_the_expected_release(
    deployed_version: DeployedVersion, expected_version: Expected, evidence: EvidenceLog
) -> None:
    """Every API replica reports the release CI deployed."""
    evidence.record(
        "version", deployed_version.version, threshold=expected_version.version,
        target=deployed_version.source,
    )  # fmt: skip
    assert deployed_version.version == expected_version.version, (
        f"{deployed_version.replica} runs {deployed_version.version!r} "
        f"({deployed_version.source}); expected {expected_version.version!r} "
        f"({expected_version.source})"
    )


def _behind(head: ExpectedHead, at: str) -> str:
    """Why a database revision is not the head, in the graph's words."""
    if head.graph is None:
        return "not the configured head"
    known = {r.id: r for r in head.graph.revisions}
    if at not in known:
        return "a revision this release's migrations do not define (ahead, or another branch)"
    # Revisions between the database and the head: those `alembic upgrade head` would apply.
    pending, stack, seen = 0, list(head.heads), set()
    while stack:
        current = stack.pop()
        if current in seen or current == at or current not in known:
            continue
        seen.add(current)
        pending += 1
        stack.extend(known[current].down)
    return f"behind the head by {pending} revision(s): alembic upgrade head was not run"


@pytest.mark.post_deploy
@pytest.mark.control(
    "DEP-02",
    severity="critical",
    runbook=MIGRATIONS,
    remediation="Run `alembic upgrade head` (runbook 4.2) after a backup; two heads in the "
    "migrations folder need an `alembic merge` revision before the release is deployed.",
)
def test_database_is_at_the_expected_alembic_head(
    alembic_head: ExpectedHead, alembic_revision: DatabaseRevision, evidence: EvidenceLog
) -> None:
    """The database's alembic_version holds exactly the release's one Alembic head."""
    where = f"{alembic_revision.table} in {alembic_revision.target}"
    rows = alembic_revision.revisions
    evidence.record("revision", ", ".join(rows) or "(no row)",
                    threshold=", ".join(alembic_head.heads), target=where)  # fmt: skip
    assert len(alembic_head.heads) == 1, (
        f"{alembic_head.source} has {len(alembic_head.heads)} heads "
        f"({', '.join(alembic_head.heads)}): a branch in the migration graph that no merge "
        f"revision joins; expected one head (the database is at {', '.join(rows) or 'nothing'})"
    )
    head = alembic_head.heads[0]
    assert rows, f"{where} holds no row: the schema's revision is unknown; expected {head}"
    assert len(rows) == 1, (
        f"{where} holds {len(rows)} revisions ({', '.join(rows)}): a branched database; "
        f"expected the one row {head} ({alembic_head.source})"
    )
    assert rows[0] == head, (
        f"{where} is at {rows[0]}, {_behind(alembic_head, rows[0])}; expected {head} "
        f"({alembic_head.source})"
    )


@pytest.mark.post_deploy
@pytest.mark.control(
    "DEP-03",
    severity="critical",
    runbook=UPDATES,
    remediation="The deployed release serves /auth/me without a token: its authentication "
    "dependency is missing or bypassed. Roll back now (runbook 4.1) and review the release.",
)
def test_replica_refuses_the_profile_without_a_token(
    anonymous_me: HttpReply, evidence: EvidenceLog
) -> None:
    """Every API replica answers GET /auth/me without a token with 401."""
    evidence.record("status", anonymous_me.status, threshold="401", target=anonymous_me.sent)
    assert anonymous_me.status == 401, (
        f"GET {anonymous_me.sent} without a token answered {anonymous_me.status} "
        f"{anonymous_me.excerpt()}; expected 401"
    )


@pytest.mark.post_deploy
@pytest.mark.control(
    "DEP-04",
    severity="critical",
    runbook=UPDATES,
    remediation="Users cannot log in after the deploy: check the API's logs for the login "
    "(runbook 3.2 Authentication Issues: JWT secret, Redis, lockout keys) or roll back. A "
    "401 with unchanged code means the synthetic account's password was rotated: update the "
    "credential. Never retry the login by hand in a loop (5/min per IP, lockout after 5).",
)
def test_synthetic_account_logs_in_and_reads_its_profile(
    login_flow: LoginFlow, evidence: EvidenceLog
) -> None:
    """The synthetic account logs in (one POST) and reads GET /auth/me with its token."""
    flow = login_flow
    evidence.record("login_status", flow.login.status, threshold="200", target=flow.login_url)
    assert flow.login.status == 200, (
        f"POST {flow.login_url} as {flow.account} answered {flow.login.status} "
        f"{flow.login.excerpt}; expected 200 with an access token (not retried)"
    )
    assert flow.token_found, (
        f"POST {flow.login_url} as {flow.account} answered 200 without "
        "data.tokens.access_token; expected an access token"
    )
    assert flow.me is not None
    evidence.record("me_status", flow.me.status, threshold="200", target=flow.me_url)
    assert flow.me.status == 200, (
        f"GET {flow.me_url} with {flow.account}'s fresh access token answered "
        f"{flow.me.status} {flow.me.excerpt}; expected 200"
    )


@pytest.mark.post_deploy
@pytest.mark.control(
    "DEP-05",
    severity="high",
    runbook=UPDATES,
    remediation="More requests fail since the deploy than before it: look at the new 5xx in "
    "the API's logs and Sentry; roll back if they are the release's (runbook 4.1).",
)
def test_error_rate_since_the_deploy_is_not_above_the_baseline(
    error_rates: ErrorRates, environment: Environment, evidence: EvidenceLog
) -> None:
    """The 5xx share since the deploy is not above the share before it (or the SLO)."""
    gate = error_rate_gate(environment)
    since = error_rates.since
    if error_rates.baseline is not None:
        reference = error_rates.baseline.value
        what = f"the baseline {reference:.2%} over {format_duration(gate.baseline)} before it"
    else:
        reference = environment.policy.slo.error_rate
        what = (
            f"the SLO error rate {reference:.2%} (policy.slo.error_rate): Prometheus holds no "
            f"request in the {format_duration(gate.baseline)} before the deploy"
        )
    limit = reference + gate.allowance
    evidence.record("requests_since_deploy", since.requests, target=error_rates.target)
    evidence.record("reference_ratio", reference, target=error_rates.target)
    evidence.record("error_ratio", since.value, threshold=f"<= {limit:.4f}",
                    target=error_rates.target)  # fmt: skip
    assert since.value <= limit, (
        f"{error_rates.target}: {since.value:.2%} of {since.requests:.0f} requests failed "
        f"(5xx) since the deploy at {error_rates.deployed_at:%Y-%m-%dT%H:%M:%SZ} "
        f"({error_rates.deployed_at_source}); limit {limit:.2%} = {what} + allowance "
        f"{gate.allowance:.2%}"
    )
