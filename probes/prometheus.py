"""Prometheus' HTTP API (v1): instant queries, firing alerts, rules, scrape targets, Alertmanagers.

Every answer is the API's envelope ``{"status": "success"|"error", "data": ..., "errorType",
"error"}``. "No data" — a query with no series, or NaN because nothing was counted — is
``NoData``: a measurement that could not be taken, never a value that passes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from lms_opscheck.probes import http_sync as http
from lms_opscheck.probes.errors import Rejected, Unreadable
from lms_opscheck.probes.nodata import NoData

#: /api/v1/targets and /api/v1/rules of a large Prometheus run to megabytes.
MAX_ANSWER = 8 * 1024 * 1024


def api_get(
    bounded: httpx.Client, base: str, path: str, params: Mapping[str, str] | None = None
) -> Any:
    """GET ``base + path`` and return the envelope's ``data``; errors name the URL."""
    url = f"{base}{path}" + (f"?{urlencode(params)}" if params else "")
    reply = http.get(bounded, url, max_body=MAX_ANSWER)
    shown = f"{base}{path}"  # the query string can be long: the path names the call
    if reply.status in (401, 403):
        raise Rejected(shown, f"answered {reply.status}: credentials rejected")
    body = reply.json()
    if not isinstance(body, dict) or "status" not in body:
        raise Unreadable(shown, f"answered {reply.status} without the API envelope")
    if body["status"] != "success":
        problem = f"{body.get('errorType', 'error')}: {body.get('error', '')}"
        raise Unreadable(shown, f"answered {reply.status}, {problem}"[:400])
    return body.get("data")


@dataclass(frozen=True)
class Sample:
    """One instant-query result: the value at ``at`` and the query it answered."""

    query: str
    value: float
    at: datetime


def instant_value(data: Any, where: str, query: str) -> Sample:
    """The single sample of an instant query; NoData when there is none or it is NaN."""
    if not isinstance(data, dict) or data.get("resultType") not in ("vector", "scalar"):
        raise Unreadable(where, f"unexpected answer to {query!r}")
    if data["resultType"] == "scalar":
        stamp, text = data["result"]
    else:
        result = data.get("result") or []
        if not result:
            raise NoData(where, f"no data: {query!r} returned no series")
        if len(result) > 1:
            labels = [json.dumps(r.get("metric", {}), sort_keys=True) for r in result[:3]]
            raise Unreadable(where, f"{query!r} returned {len(result)} series: {labels}")
        stamp, text = result[0]["value"]
    value = float(text)
    if math.isnan(value):
        raise NoData(where, f"no data: {query!r} is NaN (nothing counted in the window)")
    return Sample(query, value, datetime.fromtimestamp(float(stamp), UTC))


@dataclass(frozen=True)
class Alert:
    name: str
    state: str  # firing | pending
    active_at: str
    labels: dict[str, str]
    summary: str

    def __str__(self) -> str:
        since = f" since {self.active_at}" if self.active_at else ""
        return f"{self.name}{since}" + (f" ({self.summary})" if self.summary else "")


def alerts(data: Any, where: str) -> list[Alert]:
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        raise Unreadable(where, "no alerts list in the answer")
    found = []
    for raw in data["alerts"]:
        labels = {str(k): str(v) for k, v in (raw.get("labels") or {}).items()}
        annotations = raw.get("annotations") or {}
        found.append(
            Alert(
                name=labels.get("alertname", "?"),
                state=str(raw.get("state", "")),
                active_at=_second(str(raw.get("activeAt", ""))),
                labels=labels,
                summary=str(annotations.get("summary", ""))[:160],
            )
        )
    return found


def critical_firing(found: Sequence[Alert], label: str, values: Sequence[str]) -> list[Alert]:
    return [a for a in found if a.state == "firing" and a.labels.get(label) in values]


@dataclass(frozen=True)
class Rules:
    groups: int
    alerting: int
    recording: int
    #: "<group>/<rule>: <lastError>" of every rule whose last evaluation failed
    broken: tuple[str, ...]


def rules(data: Any, where: str) -> Rules:
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        raise Unreadable(where, "no rule groups in the answer")
    alerting = recording = 0
    broken = []
    for group in data["groups"]:
        for rule in group.get("rules") or []:
            if rule.get("type") == "alerting":
                alerting += 1
            else:
                recording += 1
            if rule.get("health") == "err":
                broken.append(f"{group.get('name')}/{rule.get('name')}: {rule.get('lastError')}")
    return Rules(len(data["groups"]), alerting, recording, tuple(broken))


@dataclass(frozen=True)
class Target:
    job: str
    instance: str
    url: str
    health: str  # up | down | unknown (not scraped yet)
    last_error: str
    last_scrape: str

    def __str__(self) -> str:
        why = f": {self.last_error}" if self.last_error else ""
        return f"{self.url} ({self.job}) is {self.health}{why}"


def targets(data: Any, where: str, jobs: Sequence[str]) -> list[Target]:
    """Active targets of ``jobs`` (scrape pool or job label)."""
    if not isinstance(data, dict) or not isinstance(data.get("activeTargets"), list):
        raise Unreadable(where, "no activeTargets in the answer")
    found = []
    for raw in data["activeTargets"]:
        labels = raw.get("labels") or {}
        job = str(labels.get("job") or raw.get("scrapePool") or "")
        if job not in jobs and raw.get("scrapePool") not in jobs:
            continue
        found.append(
            Target(
                job=job,
                instance=str(labels.get("instance", "")),
                url=str(raw.get("scrapeUrl", labels.get("instance", ""))),
                health=str(raw.get("health", "unknown")),
                last_error=str(raw.get("lastError", ""))[:200],
                last_scrape=_second(str(raw.get("lastScrape", ""))),
            )
        )
    return found


def alertmanagers(data: Any, where: str) -> list[str]:
    if not isinstance(data, dict) or not isinstance(data.get("activeAlertmanagers"), list):
        raise Unreadable(where, "no activeAlertmanagers in the answer")
    return [str(a.get("url", "?")) for a in data["activeAlertmanagers"]]


def _second(stamp: str) -> str:
    """``2026-11-28T06:40:22.490123Z`` → ``2026-11-28T06:40:22Z`` (sub-seconds are noise here)."""
    if "." in stamp and stamp.endswith("Z"):
        return stamp.split(".", 1)[0] + "Z"
    if stamp.startswith("0001-01-01"):  # Go's zero time: never happened
        return ""
    return stamp
