"""Security: scans are current and clean, the API sends its security headers, secrets rotate."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime

import pytest

from lms_opscheck.config.durations import format_duration as fmt
from lms_opscheck.config.governance import GovernancePolicy
from lms_opscheck.config.model import Environment
from lms_opscheck.config.security import SecretsAge
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.fixtures.security import Newest
from lms_opscheck.probes import headers
from lms_opscheck.probes.scan_reports import AuditReport, BanditReport
from lms_opscheck.probes.secret_age import Rotations
from lms_opscheck.probes.waivers import FindingWaivers, finding_waivers

REVIEW = "2.2 Security Review"
SCAN_FIX = "Run the weekly scan job (bandit, pip-audit) and publish its JSON reports."


class SecurityWarning(UserWarning):
    """A security item falls due soon: a secret to rotate, a scan that could not see everything."""


def _waivers(env: Environment, control: str, day: date, policy: GovernancePolicy) -> FindingWaivers:
    return finding_waivers(env.waivers, control, day, policy.max_waiver_length)


@pytest.mark.weekly
@pytest.mark.control("SEC-02", severity="high", runbook=REVIEW, remediation=SCAN_FIX)
@pytest.mark.parametrize("scanner", ["bandit", "pip-audit"])
def test_newest_scan_report_is_younger_than_the_review_interval(
    scanner: str, request: pytest.FixtureRequest, environment: Environment, evidence: EvidenceLog
) -> None:
    """The newest bandit and pip-audit reports are younger than the review interval."""
    fixture = "bandit_report" if scanner == "bandit" else "audit_report"
    newest: Newest[BanditReport | AuditReport] = request.getfixturevalue(fixture)
    limit = environment.policy.security.scan_max_age
    assert newest.report is not None, (
        f"no {scanner} report matching {newest.pattern!r} in {newest.where}; "
        f"one younger than {fmt(limit)} is required"
    )
    report = newest.report
    age = datetime.now(UTC) - report.generated_at
    evidence.record("report", report.file.name, target=report.file.where)
    evidence.record("age", age, threshold=f"<= {fmt(limit)}", target=report.file.where)
    assert age <= limit, (
        f"{scanner} report {report.file} is {fmt(age)} old; the review interval is {fmt(limit)}"
    )


@pytest.mark.weekly
@pytest.mark.control(
    "SEC-03",
    severity="high",
    runbook=REVIEW,
    remediation=(
        "Fix each finding named (file:line), or waive one finding with a ticket and an expiry."
    ),
)
def test_bandit_reports_no_finding_at_or_above_the_policy_level(
    bandit_report: Newest[BanditReport],
    environment: Environment,
    governance_day: date,
    governance_policy: GovernancePolicy,
    evidence: EvidenceLog,
) -> None:
    """bandit's newest report has no unwaived finding at or above the severity and confidence."""
    assert bandit_report.report is not None, (
        f"no bandit report matching {bandit_report.pattern!r} in {bandit_report.where}"
    )
    report, policy = bandit_report.report, environment.policy.security
    level = f"{policy.bandit_severity} severity and {policy.bandit_confidence} confidence"
    found = report.at_or_above(policy.bandit_severity, policy.bandit_confidence)
    waivers = _waivers(environment, "SEC-03", governance_day, governance_policy)
    waived = [(f, w) for f in found if (w := waivers.waiver_for([f.key])) is not None]
    open_ = [f for f in found if waivers.waiver_for([f.key]) is None]
    evidence.record("report", report.file.name, target=report.file.where)
    evidence.record("lines_scanned", report.lines, threshold="> 0")
    evidence.record("findings", [str(f) for f in open_], threshold=f"none at or above {level}")
    evidence.record("waived", [f"{f.key} by {w.ticket} until {w.expires}" for f, w in waived])
    if waivers.refused:
        evidence.record("waivers_not_applied", list(waivers.refused.values()))
    if report.errors:
        evidence.record("not_scanned", list(report.errors))
        not_scanned = "; ".join(report.errors)
        warnings.warn(SecurityWarning(f"bandit could not scan: {not_scanned}"), stacklevel=1)
    assert report.lines > 0 or report.findings, (
        f"bandit report {report.file} scanned 0 lines of code: it examined nothing"
    )
    refused = [waivers.refused[f.key] for f in open_ if f.key in waivers.refused]
    assert not open_, (
        f"{len(open_)} bandit finding(s) at or above {level} in {report.file}: "
        + "; ".join(str(f) for f in open_[:10])
        + (f" ({len(waived)} more waived)" if waived else "")
        + (f"; {'; '.join(refused)}" if refused else "")
    )


@pytest.mark.weekly
@pytest.mark.control(
    "SEC-04",
    severity="high",
    runbook=REVIEW,
    remediation=(
        "Upgrade each package named to its fix version, or waive one vulnerability id (ticket)."
    ),
)
def test_pip_audit_reports_no_known_vulnerability(
    audit_report: Newest[AuditReport],
    environment: Environment,
    governance_day: date,
    governance_policy: GovernancePolicy,
    evidence: EvidenceLog,
) -> None:
    """pip-audit's newest report audited the dependencies and found no unwaived vulnerability."""
    assert audit_report.report is not None, (
        f"no pip-audit report matching {audit_report.pattern!r} in {audit_report.where}"
    )
    report = audit_report.report
    waivers = _waivers(environment, "SEC-04", governance_day, governance_policy)
    waived = [(v, w) for v in report.vulnerabilities if (w := waivers.waiver_for(v.keys))]
    open_ = [v for v in report.vulnerabilities if waivers.waiver_for(v.keys) is None]
    evidence.record("report", report.file.name, target=report.file.where)
    evidence.record("audited", report.audited, threshold="> 0")
    evidence.record("skipped", list(report.skipped), threshold="none (strict)")
    evidence.record("vulnerabilities", [str(v) for v in open_], threshold="none unwaived")
    evidence.record("waived", [f"{v.id} by {w.ticket} until {w.expires}" for v, w in waived])
    if waivers.refused:
        evidence.record("waivers_not_applied", list(waivers.refused.values()))
    assert report.audited > 0, (
        f"pip-audit report {report.file} audited 0 dependencies "
        f"({len(report.skipped)} skipped, e.g. {'; '.join(report.skipped[:2]) or 'none listed'}): "
        "it examined nothing"
    )
    refused = [waivers.refused[k] for v in open_ for k in v.keys if k in waivers.refused]
    assert not open_, (
        f"{len(open_)} known vulnerabilit{'y' if len(open_) == 1 else 'ies'} in {report.file}: "
        + "; ".join(str(v) for v in open_[:10])
        + (f" ({len(waived)} more waived)" if waived else "")
        + (f"; {'; '.join(refused)}" if refused else "")
    )
    strict = environment.policy.security.pip_audit_strict
    assert not (strict and report.skipped), (
        f"pip-audit could not audit {len(report.skipped)} of "
        f"{len(report.skipped) + report.audited} dependencies in {report.file}: "
        f"{'; '.join(report.skipped[:5])} (policy.security.pip_audit_strict)"
    )


HEADERS = "2.2 Security Review"
HEADER_FIX = "Restore the security headers middleware (or the proxy's header block) and redeploy."


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.control("SEC-05", severity="high", runbook=HEADERS, remediation=HEADER_FIX)
def test_api_answers_carry_the_security_headers(
    security_headers: headers.Answer, environment: Environment, evidence: EvidenceLog
) -> None:
    """Every API answer carries nosniff, X-Frame-Options, Referrer-Policy and a CSP."""
    required = environment.policy.security.headers
    problems = headers.header_problems(security_headers, required)
    seen = {n: security_headers.header(n) or "missing" for n in required}
    evidence.record("status", security_headers.status, target=security_headers.url)
    evidence.record("headers", seen, threshold="as policy.security.headers")
    assert not problems, (
        f"GET {security_headers.url} -> {security_headers.status}: {'; '.join(problems)} "
        f"(required: {', '.join(required)})"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.control(
    "SEC-06",
    severity="high",
    runbook=HEADERS,
    remediation=(
        "Send Strict-Transport-Security with max-age of at least a year from the TLS proxy."
    ),
)
def test_https_answers_carry_hsts_with_the_minimum_max_age(
    https_headers: headers.Answer, environment: Environment, evidence: EvidenceLog
) -> None:
    """Every HTTPS answer carries Strict-Transport-Security with at least the minimum max-age."""
    security_headers = https_headers
    minimum = int(environment.policy.security.hsts_min_max_age.total_seconds())
    value = security_headers.header("Strict-Transport-Security")
    max_age = headers.hsts_max_age(value)
    evidence.record("strict_transport_security", value or "missing", target=security_headers.url)
    evidence.record(
        "max_age", max_age if max_age is not None else "none", unit="s", threshold=f">= {minimum} s"
    )
    assert value is not None, (
        f"GET {security_headers.url} has no Strict-Transport-Security header; "
        f"max-age >= {minimum} is required"
    )
    assert max_age is not None and max_age >= minimum, (
        f"GET {security_headers.url}: Strict-Transport-Security {value!r} has max-age "
        f"{max_age}; at least {minimum} is required"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.control(
    "SEC-07",
    severity="medium",
    runbook=HEADERS,
    remediation=("Disable the API docs in production (FastAPI docs_url=None, openapi_url=None)."),
)
def test_api_docs_are_closed_in_production(
    docs_statuses: dict[str, int], http_endpoint: str, evidence: EvidenceLog
) -> None:
    """In production, /docs and /openapi.json answer 404, 401 or 403."""
    opened = headers.open_paths(docs_statuses)
    evidence.record(
        "statuses", docs_statuses, threshold="404, 401 or 403 each", target=http_endpoint
    )
    assert docs_statuses, f"no closed path is configured for {http_endpoint}"
    assert not opened, (
        f"{http_endpoint} serves "
        + ", ".join(f"{p} ({s})" for p, s in opened.items())
        + " in production; expected 404, 401 or 403"
    )


@pytest.mark.weekly
@pytest.mark.incident
@pytest.mark.p2
@pytest.mark.control(
    "SEC-08",
    severity="high",
    runbook="5.1 Secret Rotation",
    remediation=(
        "Rotate each secret named (runbook 5.1) and record it in Vault or the rotation ledger."
    ),
)
def test_every_secret_is_younger_than_its_maximum_age(
    secrets_age: SecretsAge, rotations: Rotations, environment: Environment, evidence: EvidenceLog
) -> None:
    """Every listed secret was rotated within its maximum age (warning before it is due)."""
    policy = environment.policy.security
    now = rotations.measured_at
    evidence.record("source", rotations.source)
    known = [name for name in secrets_age.secrets if name in rotations.found]
    assert known, (
        f"{rotations.source} holds none of the {len(secrets_age.secrets)} listed secrets "
        f"({', '.join(secrets_age.secrets)}; {rotations.entries} entries read)"
    )
    missing = [name for name in secrets_age.secrets if name not in rotations.found]
    over, due = [], []
    for name in known:
        rotation = rotations.found[name]
        limit = secrets_age.max_age.get(name, policy.secret_max_age)
        age = rotation.age(now)
        evidence.record(name, age, threshold=f"<= {fmt(limit)}", target=rotation.by)
        if age > limit:
            over.append(f"{name} rotated {fmt(age)} ago ({rotation.by}); maximum {fmt(limit)}")
        elif age > limit - policy.secret_warn_before:
            due.append(f"{name} is due in {fmt(limit - age)} ({rotation.by})")
    evidence.record("never_rotated", missing, threshold="none")
    for text in due:
        warnings.warn(SecurityWarning(f"{rotations.source}: {text}"), stacklevel=1)
    assert not missing, (
        f"{rotations.source} has no rotation of {', '.join(missing)}; every listed secret "
        f"must be rotated within {fmt(policy.secret_max_age)}"
    )
    assert not over, f"{len(over)} secret(s) over age in {rotations.source}: " + "; ".join(over)
