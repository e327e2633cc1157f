"""Logs: the application log is being written, and its error lines stay within policy."""

from __future__ import annotations

import pytest

from lms_opscheck.config.durations import format_duration as fmt
from lms_opscheck.config.model import Policy
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.fixtures.logs import DAILY_AND_INCIDENT, assert_examined, record_examined
from lms_opscheck.probes.logs import LogWindow
from lms_opscheck.probes.logs.lines import utc

RUNBOOK = "2.1 Monitoring Review"


@pytest.mark.parametrize("app_log", DAILY_AND_INCIDENT, indirect=True)
@pytest.mark.control(
    "LOG-01",
    severity="high",
    runbook=RUNBOOK,
    remediation=(
        "A live LMS logs every request: check the API is up and serving (runbook 3.1), that it "
        "still writes to this folder (volume, disk full, logrotate without copytruncate) and "
        "that artifacts.app_logs points at the right files."
    ),
)
def test_application_log_is_being_written(
    app_log: LogWindow, policy: Policy, evidence: EvidenceLog
) -> None:
    """The application log has lines in the window, and its newest line is recent."""
    record_examined(evidence, app_log)
    assert_examined(app_log)
    newest = app_log.last_time or app_log.newest_line
    limit = policy.logs.max_silence
    assert newest is not None, (
        f"{app_log.lines} line(s) in {app_log.location} but none carries a timestamp "
        f"({app_log.unplaced_lines} cannot be placed): the log's age cannot be told"
    )
    silence = app_log.until - newest
    evidence.record("newest_line", newest, target=app_log.location)
    evidence.record("silence", silence, threshold=f"<= {fmt(limit)}", target=app_log.location)
    assert silence <= limit, (
        f"the newest line of {app_log.location} is {fmt(silence)} old "
        f"(at {newest:%Y-%m-%d %H:%M:%S} UTC); the log may be silent at most {fmt(limit)}"
    )


@pytest.mark.parametrize("app_log", DAILY_AND_INCIDENT, indirect=True)
@pytest.mark.control(
    "LOG-02",
    severity="high",
    runbook=RUNBOOK,
    remediation=(
        "Read the top error signatures in the evidence; follow the matching runbook (3.1 for "
        "database and Redis errors, 3.2 for authentication) and open an issue for new ones."
    ),
)
def test_error_lines_stay_within_the_allowed_rate(
    app_log: LogWindow, policy: Policy, evidence: EvidenceLog
) -> None:
    """Error lines in the window stay under the allowed busiest-hour count and share of lines."""
    rules = policy.logs
    record_examined(evidence, app_log)
    assert_examined(app_log)
    assert app_log.errors is not None
    errors = app_log.errors
    ratio = errors.errors / app_log.lines
    hour = errors.busiest_hour
    where = app_log.location
    evidence.record("error_lines", errors.errors, target=where)
    evidence.record(
        "busiest_hour", hour.events, threshold=f"<= {rules.max_errors_per_hour}", target=where
    )
    evidence.record("error_ratio", ratio, threshold=f"<= {rules.max_error_ratio}", target=where)
    evidence.record("signatures", {s: n for s, n, _ in errors.signatures}, target=where)
    too_many = hour.events > rules.max_errors_per_hour
    assert not too_many and ratio <= rules.max_error_ratio, (
        f"{errors.errors} error line(s) ({'/'.join(rules.error_levels)}) in {where} "
        f"in the last {fmt(app_log.window)}: busiest hour {hour.events} from "
        f"{utc(hour.at):%Y-%m-%d %H:%M} UTC (threshold {rules.max_errors_per_hour}/h), "
        f"{ratio:.3%} of "
        f"{app_log.lines} lines (threshold {rules.max_error_ratio:.3%}); top: "
        + "; ".join(f"{sig} x{count}" for sig, count, _ in errors.signatures[:3])
    )
