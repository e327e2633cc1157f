"""Alertmanager v2 alerts from a run's records, and a push bounded in total time, never raising."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from lms_opscheck.probes.redaction import redact
from lms_opscheck.record import CheckRecord, Results

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


def labels(check: CheckRecord, env: str) -> dict[str, str]:
    """The alert's identity: stable per env + control (+ parametrized target), never a value.

    A single-target check's measured target can change from run to run (a backup's file name),
    so it goes into the annotations; ``target`` is only the parametrized one (an API replica).
    """
    return {
        "alertname": ALERTNAME,
        "control": check.control.id,
        "severity": check.control.severity,
        "env": env,
        "target": check.subject,
    }


def alert_of(check: CheckRecord, env: str, now: datetime) -> Alert:
    """Firing for failed/error; resolved (``endsAt`` now) for passed and waived."""
    control = check.control
    summary = f"{control.id} {control.title.rstrip('.')}: {check.verdict}"
    description = check.message or control.title
    if control.remediation:
        description += f"\nRemediation: {control.remediation}"
    return {
        "labels": labels(check, env),
        "annotations": {
            "summary": redact(summary),
            "description": redact(description),
            "runbook_url": check.runbook_url or "",
            "category": check.verdict,
            "target": check.target or "",
        },
        "startsAt": _stamp(now),
        "endsAt": _stamp(now + VALIDITY if check.alerting else now),
    }


def payload(results: Results, now: datetime) -> list[Alert]:
    """POST body for /api/v2/alerts: every check that fires or resolves (skipped send nothing)."""
    return [alert_of(c, results.run.env, now) for c in results.checks if c.outcome != "skipped"]


def safe_url(url: str) -> str:
    """The URL without credentials, query or fragment, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be an Alertmanager base URL; None when it can."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s):// URL with a host"
    return None


def push(url: str, alerts: list[Alert], timeout: float = PUSH_TIMEOUT) -> PushResult:
    """POST the alerts; the whole exchange is bounded by ``timeout`` (a server that trickles its
    answer cannot hold the run), and a failure is described, never raised."""
    endpoint = url.rstrip("/") + "/api/v2/alerts"
    shown = safe_url(endpoint)
    if not alerts:
        return PushResult(True, f"nothing to send to {shown}")
    outcome: list[PushResult] = []

    def send() -> None:
        try:
            response = httpx.post(endpoint, json=alerts, timeout=timeout)
        except (httpx.HTTPError, ValueError) as exc:
            problem = redact(str(exc)) or type(exc).__name__
            outcome.append(PushResult(False, f"push to {shown} failed: {problem}"))
            return
        if response.status_code >= 300:
            body = redact(response.text[:200].strip())
            outcome.append(
                PushResult(False, f"push to {shown} answered {response.status_code}: {body}")
            )
            return
        firing = sum(1 for a in alerts if a["endsAt"] > a["startsAt"])
        outcome.append(
            PushResult(True, f"pushed {firing} firing, {len(alerts) - firing} resolved to {shown}")
        )

    worker = threading.Thread(target=send, name="alertmanager-push", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        return PushResult(False, f"push to {shown} did not finish within {timeout:g}s")
    return outcome[0]
