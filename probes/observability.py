"""Sentry and Grafana through their documented HTTP APIs (GET only, bearer tokens).

Sentry: ``GET /api/0/organizations/{org}/projects/`` (the configured projects must exist: a
mistyped slug would otherwise read as "no issues") and ``GET /api/0/organizations/{org}/issues/``
with ``query=is:unresolved firstSeen:-24h`` and ``project=<id>``; pages follow the ``Link`` header
(``rel="next"; results="true"``). Grafana: ``GET /api/health`` (``database: ok``),
``GET /api/datasources`` and ``GET /api/datasources/uid/{uid}/health`` (``status: OK``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from lms_opscheck.config.monitoring import GrafanaTarget, SentryTarget
from lms_opscheck.probes import http_sync as http
from lms_opscheck.probes.errors import Rejected, Unreadable
from lms_opscheck.probes.nodata import NoData

MAX_ANSWER = 4 * 1024 * 1024
#: Sentry pages hold 100 issues; more than this many pages of *new* issues is an incident.
MAX_PAGES = 5
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next";\s*results="true"')


def _json(bounded: httpx.Client, url: str, shown: str) -> tuple[Any, http.HttpReply]:
    reply = http.get(bounded, url, max_body=MAX_ANSWER)
    if reply.status in (401, 403):
        raise Rejected(shown, f"answered {reply.status}: token rejected or lacks scope")
    body = reply.json()
    if body is None:
        raise Unreadable(shown, f"answered {reply.status} with a body that is not JSON")
    return body, reply


# -- Sentry ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    short_id: str
    title: str
    first_seen: datetime
    count: int
    project: str

    def __str__(self) -> str:
        first = self.first_seen.isoformat(timespec="seconds").replace("+00:00", "Z")
        return f"{self.short_id} {self.title[:80]!r} ({self.count} events, first seen {first})"


@dataclass(frozen=True)
class NewIssues:
    where: str  # the organization's issues URL
    projects: tuple[str, ...]
    window: timedelta
    issues: tuple[Issue, ...]
    complete: bool  # False when more pages than MAX_PAGES exist
    allowed: int  # new issues tolerated in the window (max_new_issues)


def new_issues(target: SentryTarget, bounded: httpx.Client, now: datetime) -> NewIssues:
    org = quote(target.organization, safe="")
    base = f"{target.url}/api/0/organizations/{org}"
    listed, reply = _json(bounded, f"{base}/projects/", f"{base}/projects/")
    if reply.status != 200 or not isinstance(listed, list):
        raise Unreadable(f"{base}/projects/", f"answered {reply.status}: {_said(listed)}")
    ids = {str(p.get("slug")): str(p.get("id")) for p in listed if isinstance(p, dict)}
    missing = [slug for slug in target.projects if slug not in ids]
    if missing:
        raise NoData(
            f"{base}/projects/",
            f"no project {', '.join(missing)} in organization {target.organization} "
            f"(it has {', '.join(sorted(ids)) or 'none'}): a wrong project reads as no issues",
        )
    hours = max(1, int(target.window.total_seconds() // 3600))
    params: list[tuple[str, str]] = [
        ("query", f"is:unresolved firstSeen:-{hours}h"),
        ("statsPeriod", "24h"),
        ("limit", "100"),
        *(("project", ids[slug]) for slug in target.projects),
    ]
    if target.environment:
        params.append(("environment", target.environment))
    url: str | None = f"{base}/issues/?{urlencode(params)}"
    issues: list[Issue] = []
    pages = 0
    while url is not None and pages < MAX_PAGES:
        body, reply = _json(bounded, url, f"{base}/issues/")
        if reply.status != 200 or not isinstance(body, list):
            raise Unreadable(f"{base}/issues/", f"answered {reply.status}: {_said(body)}")
        issues += [_issue(raw, f"{base}/issues/") for raw in body]
        pages += 1
        found = _NEXT.search(reply.headers.get("link", ""))
        url = found.group(1) if found else None
    since = now - target.window
    # Filtered again here: "new in the window" must not depend on the search syntax alone.
    fresh = tuple(i for i in issues if i.first_seen >= since)
    return NewIssues(
        f"{base}/issues/",
        tuple(target.projects),
        target.window,
        fresh,
        complete=url is None,
        allowed=target.max_new_issues,
    )


def _issue(raw: Any, where: str) -> Issue:
    try:
        return Issue(
            short_id=str(raw["shortId"]),
            title=str(raw.get("title", "")),
            first_seen=datetime.fromisoformat(str(raw["firstSeen"]).replace("Z", "+00:00")),
            count=int(raw.get("count") or 0),
            project=str((raw.get("project") or {}).get("slug", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Unreadable(where, f"an issue without {exc}") from None


# -- Grafana ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrafanaHealth:
    url: str
    status: int
    database: str
    version: str


def grafana_health(target: GrafanaTarget, bounded: httpx.Client) -> GrafanaHealth:
    url = f"{target.url}/api/health"
    body, reply = _json(bounded, url, url)
    if not isinstance(body, dict) or "database" not in body:
        raise Unreadable(url, f"answered {reply.status} without a database state: {_said(body)}")
    return GrafanaHealth(url, reply.status, str(body["database"]), str(body.get("version", "")))


@dataclass(frozen=True)
class DatasourceHealth:
    url: str  # the health call
    name: str
    uid: str
    type: str
    status: str  # OK | ERROR | UNSUPPORTED (the plugin has no health check)
    message: str

    def __str__(self) -> str:
        return f"{self.name} ({self.type}): {self.status} {self.message[:120]}".rstrip()


def datasource_health(target: GrafanaTarget, bounded: httpx.Client) -> list[DatasourceHealth]:
    listing = f"{target.url}/api/datasources"
    body, reply = _json(bounded, listing, listing)
    if reply.status != 200 or not isinstance(body, list):
        raise Unreadable(listing, f"answered {reply.status}: {_said(body)}")
    wanted = set(target.datasources)
    chosen = [
        d
        for d in body
        if isinstance(d, dict) and (not wanted or {d.get("name"), d.get("uid")} & wanted)
    ]
    unknown = sorted(wanted - {str(d.get("name")) for d in chosen} - {d.get("uid") for d in chosen})
    if unknown:
        raise NoData(listing, f"no data source {', '.join(unknown)} in Grafana")
    if not chosen:
        raise NoData(listing, "no data source is configured in Grafana")
    return [_probe_datasource(target, bounded, d) for d in chosen]


def _probe_datasource(
    target: GrafanaTarget, bounded: httpx.Client, source: dict[str, Any]
) -> DatasourceHealth:
    uid = str(source.get("uid", ""))
    url = f"{target.url}/api/datasources/uid/{quote(uid, safe='')}/health"
    name, kind = str(source.get("name", uid)), str(source.get("type", ""))
    try:
        body, reply = _json(bounded, url, url)
    except Unreadable as exc:
        return DatasourceHealth(url, name, uid, kind, "ERROR", exc.problem)
    if reply.status == 404:  # plugins without a health check (Grafana answers 404)
        return DatasourceHealth(url, name, uid, kind, "UNSUPPORTED", _said(body))
    status = str(body.get("status", "")) if isinstance(body, dict) else ""
    message = str(body.get("message", "")) if isinstance(body, dict) else _said(body)
    return DatasourceHealth(url, name, uid, kind, status or f"HTTP {reply.status}", message)


def _said(body: Any) -> str:
    if isinstance(body, dict) and "message" in body:
        return str(body["message"])[:200]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:200]
    return json.dumps(body)[:200]


def examined(sources: Sequence[DatasourceHealth]) -> list[DatasourceHealth]:
    return [s for s in sources if s.status != "UNSUPPORTED"]
