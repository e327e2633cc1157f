"""Alertmanager v2 alerts from a run's results, and a bounded push that never raises."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from lms_opscheck.probes.redaction import redact
from lms_opscheck.reports.results import CheckResult, Results

ALERTNAME = "OpsCheckFailing"
#: A firing alert lapses unless the next run re-fires it: a daily run plus slack.
VALIDITY = timedelta(hours=25)
PUSH_TIMEOUT = 5.0

Alert = dict[str, Any]


@dataclass(frozen=True)
class PushResult:
    ok: bool
    detail: str


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def labels(check: CheckResult, env: str) -> dict[str, str]:
    """The alert's identity: stable per env + control (+ parametrized target), never a value.

    A single-target check's measured target can change from run to run (a backup's file name),
    so it goes into the annotations; ``target`` is only the parametrized one (an API replica).
    """
    assert check.control is not None
    return {
        "alertname": ALERTNAME,
        "control": check.control.id,
        "severity": check.control.severity,
        "env": env,
        "target": check.subject,
    }


def alert_of(check: CheckResult, env: str, now: datetime) -> Alert:
    """Firing for failed/error; resolved (``endsAt`` now) for passed and waived."""
    assert check.control is not None
    control = check.control
    kind = check.category or check.outcome
    summary = f"{control.id} {control.title.rstrip('.')}: {kind}"
    description = check.message or control.title
    if control.remediation:
        description += f"\nRemediation: {control.remediation}"
    alert: Alert = {
        "labels": labels(check, env),
        "annotations": {
            "summary": redact(summary),
            "description": redact(description),
            "runbook_url": control.runbook_url or "",
            "category": kind,
            "target": check.target or "",
        },
        "startsAt": _stamp(now),
        "endsAt": _stamp(now + VALIDITY if check.alerting else now),
    }
    return alert


def payload(results: Results, now: datetime) -> list[Alert]:
    """POST body for /api/v2/alerts: every controlled check that fires or resolves."""
    return [
        alert_of(check, results.run.env, now)
        for check in results.checks
        if check.control is not None and check.outcome in ("passed", "failed", "error", "waived")
    ]


def safe_url(url: str) -> str:
    """The URL without credentials, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def push(url: str, alerts: list[Alert], timeout: float = PUSH_TIMEOUT) -> PushResult:
    """POST the alerts to an Alertmanager; a failure is described, never raised."""
    endpoint = url.rstrip("/") + "/api/v2/alerts"
    shown = safe_url(endpoint)
    if not alerts:
        return PushResult(True, f"nothing to send to {shown}")
    try:
        response = httpx.post(endpoint, json=alerts, timeout=timeout)
    except httpx.HTTPError as exc:
        problem = redact(str(exc)) or type(exc).__name__
        return PushResult(False, f"push to {shown} failed: {problem}")
    if response.status_code >= 300:
        body = redact(response.text[:200].strip())
        return PushResult(False, f"push to {shown} answered {response.status_code}: {body}")
    firing = sum(1 for a in alerts if a["endsAt"] > a["startsAt"])
    return PushResult(True, f"pushed {firing} firing, {len(alerts) - firing} resolved to {shown}")
