"""Access logs: no client hammers logins, scans for files or meets a storm of errors."""

from __future__ import annotations

import pytest

from lms_opscheck.config.durations import format_duration as fmt
from lms_opscheck.config.model import Policy
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.fixtures.logs import DAILY_AND_WEEKLY, assert_examined, record_examined
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.logs import AccessSummary, LogWindow, Peak, Signal
from lms_opscheck.probes.logs.lines import utc

RUNBOOK = "2.2 Security Review"
ACCESS = pytest.mark.parametrize("access_log", DAILY_AND_WEEKLY, indirect=True)


def _requests(log: LogWindow, evidence: EvidenceLog, *, per_client: bool) -> AccessSummary:
    """The window's requests; not passing on a silent log or on one without request lines."""
    __tracebackhide__ = True
    record_examined(evidence, log)
    assert_examined(log)
    assert log.access is not None
    evidence.record("request_lines", log.request_lines, threshold="present", target=log.location)
    assert log.request_lines, (
        f"{log.lines} line(s) in {log.location} in the last {fmt(log.window)} but no request "
        "line (uvicorn access, app.request or JSON with an HTTP status): nothing to review"
    )
    if per_client and not log.access.clients_known:
        raise Unreadable(
            log.location,
            f"requests are read from {log.access.source}: per-client rules cannot be measured; "
            "enable uvicorn's access log or log client_ip in the JSON records",
        )
    return log.access


def _tops(signal: Signal) -> str:
    clients = ", ".join(f"{c} x{n}" for c, n in signal.clients)
    paths = ", ".join(f"{p} x{n}" for p, n in signal.paths)
    return f"top clients: {clients or 'none'}; top paths: {paths or 'none'}"


def _record_signal(evidence: EvidenceLog, log: LogWindow, signal: Signal, threshold: str) -> None:
    evidence.record("total", signal.total, target=log.location)
    evidence.record("peak", signal.peak.events, threshold=threshold, target=log.location)
    evidence.record("top_clients", dict(signal.clients), target=log.location)
    evidence.record("top_paths", dict(signal.paths), target=log.location)


def _when(peak: Peak) -> str:
    return f"{utc(peak.at):%Y-%m-%d %H:%M:%S} UTC"


@ACCESS
@pytest.mark.control(
    "ACC-01",
    severity="high",
    runbook=RUNBOOK,
    remediation=(
        "A client collecting 401/403 answers is guessing credentials or tokens: block the "
        "address at the proxy or firewall, check the account(s) it targets, runbook 3.2."
    ),
)
def test_no_client_bursts_authentication_failures(
    access_log: LogWindow, policy: Policy, evidence: EvidenceLog
) -> None:
    """No client gets more 401/403 answers within the burst window than the policy allows."""
    rules = policy.logs
    access = _requests(access_log, evidence, per_client=True)
    signal = access.auth_failures
    statuses = "/".join(str(s) for s in rules.auth_failure_statuses)
    limit = f"<= {rules.max_auth_failures_per_client} per client per {fmt(rules.burst_window)}"
    _record_signal(evidence, access_log, signal, limit)
    evidence.record("bursting_clients", signal.offender_count, threshold="0")
    worst = signal.offenders
    assert not worst, (
        f"{signal.offender_count} client(s) got bursts of {statuses} answers in "
        f"{access_log.location} in the last {fmt(access_log.window)}: "
        + ", ".join(f"{p.key} {p.events} from {_when(p)}" for p in worst)
        + f"; threshold {rules.max_auth_failures_per_client} per client per "
        f"{fmt(rules.burst_window)}; {_tops(signal)}"
    )


@ACCESS
@pytest.mark.control(
    "ACC-02",
    severity="medium",
    runbook=RUNBOOK,
    remediation=(
        "A storm of 429 answers means clients hit the rate limits hard: find the client(s) in "
        "the evidence (a script, a retry loop, an attack) and check Redis, which keeps the limits."
    ),
)
def test_no_storm_of_rate_limited_answers(
    access_log: LogWindow, policy: Policy, evidence: EvidenceLog
) -> None:
    """429 answers to all clients together stay under the allowed count per burst window."""
    rules = policy.logs
    signal = _requests(access_log, evidence, per_client=False).rate_limited
    limit = f"<= {rules.max_rate_limited} per {fmt(rules.burst_window)}"
    _record_signal(evidence, access_log, signal, limit)
    assert signal.peak.events <= rules.max_rate_limited, (
        f"{signal.peak.events} answers 429 within {fmt(rules.burst_window)} from "
        f"{_when(signal.peak)} in {access_log.location} ({signal.total} in the last "
        f"{fmt(access_log.window)}); threshold {rules.max_rate_limited} per "
        f"{fmt(rules.burst_window)}; {_tops(signal)}"
    )


@ACCESS
@pytest.mark.control(
    "ACC-03",
    severity="medium",
    runbook=RUNBOOK,
    remediation=(
        "Many lockouts mean password guessing across accounts or a broken client: check the "
        "addresses in the evidence and runbook 3.2 Authentication Issues."
    ),
)
def test_login_lockouts_stay_within_policy(
    access_log: LogWindow, policy: Policy, evidence: EvidenceLog
) -> None:
    """Clients locked out by failed logins stay within the allowed number in the window."""
    rules = policy.logs
    access = _requests(access_log, evidence, per_client=True)
    evidence.record(
        "lockouts", access.lockout_count, threshold=f"<= {rules.max_lockouts}",
        target=access_log.location,
    )  # fmt: skip
    evidence.record("locked_clients", [f"{p.key} at {_when(p)}" for p in access.lockouts])
    assert access.lockout_count <= rules.max_lockouts, (
        f"{access.lockout_count} login lockout(s) in {access_log.location} in the last "
        f"{fmt(access_log.window)} ({rules.lockout_failures} failed logins within "
        f"{fmt(rules.lockout_period)} on {', '.join(rules.login_paths)}): "
        + ", ".join(f"{p.key} at {_when(p)}" for p in access.lockouts)
        + f"; threshold {rules.max_lockouts}"
    )


@ACCESS
@pytest.mark.control(
    "ACC-04",
    severity="medium",
    runbook=RUNBOOK,
    remediation=(
        "A client asking for paths no LMS serves is scanning for leaked files or known holes: "
        "block it at the proxy, and make sure none of those paths exists (see ACC-05)."
    ),
)
def test_no_client_scans_for_paths_the_lms_does_not_serve(
    access_log: LogWindow, policy: Policy, evidence: EvidenceLog
) -> None:
    """No client asks for more of the listed scanner paths in the window than allowed."""
    rules = policy.logs
    signal = _requests(access_log, evidence, per_client=True).scanner
    limit = f"<= {rules.max_scanner_requests_per_client} per client"
    evidence.record("scanner_requests", signal.total, target=access_log.location)
    evidence.record("scanning_clients", dict((p.key, p.events) for p in signal.offenders),
                    threshold=limit, target=access_log.location)  # fmt: skip
    evidence.record("top_paths", dict(signal.paths), target=access_log.location)
    assert not signal.offenders, (
        f"{signal.offender_count} client(s) scanned {access_log.location} for paths no LMS "
        f"serves in the last {fmt(access_log.window)}: "
        + ", ".join(f"{p.key} {p.events} requests" for p in signal.offenders)
        + f"; threshold {rules.max_scanner_requests_per_client} per client; {_tops(signal)}"
    )


@ACCESS
@pytest.mark.control(
    "ACC-05",
    severity="critical",
    runbook=RUNBOOK,
    remediation=(
        "A scanner path answered with success may have leaked a file (.env, .git): check what "
        "was served, remove it from the web root, rotate any secret it held (runbook 5.1)."
    ),
)
def test_no_scanner_path_is_served(access_log: LogWindow, evidence: EvidenceLog) -> None:
    """No request for a listed scanner path was answered below 400 (nothing was served)."""
    access = _requests(access_log, evidence, per_client=False)
    served = [f"{s.client} {s.path} -> {s.status} at {_when(Peak(0, s.at))}" for s in
              access.served_scanner]  # fmt: skip
    evidence.record("served", access.served_count, threshold="0", target=access_log.location)
    evidence.record("served_requests", served, target=access_log.location)
    assert access.served_count == 0, (
        f"{access.served_count} request(s) for paths no LMS serves were answered below 400 in "
        f"{access_log.location} in the last {fmt(access_log.window)}: {'; '.join(served)}; "
        "threshold 0"
    )


@ACCESS
@pytest.mark.control(
    "ACC-06",
    severity="high",
    runbook=RUNBOOK,
    remediation=(
        "A burst of 5xx answers is an outage seen by users: read the error signatures (LOG-02) "
        "of that time and runbook 3.1."
    ),
)
def test_no_burst_of_server_errors(
    access_log: LogWindow, policy: Policy, evidence: EvidenceLog
) -> None:
    """5xx answers to all clients together stay under the allowed count per burst window."""
    rules = policy.logs
    signal = _requests(access_log, evidence, per_client=False).server_errors
    limit = f"<= {rules.max_server_errors} per {fmt(rules.burst_window)}"
    _record_signal(evidence, access_log, signal, limit)
    assert signal.peak.events <= rules.max_server_errors, (
        f"{signal.peak.events} answers 5xx within {fmt(rules.burst_window)} from "
        f"{_when(signal.peak)} in {access_log.location} ({signal.total} in the last "
        f"{fmt(access_log.window)}); threshold {rules.max_server_errors} per "
        f"{fmt(rules.burst_window)}; {_tops(signal)}"
    )
