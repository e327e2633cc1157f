"""Small real HTTP servers answering as Sentry's and Grafana's documented APIs do.

No Sentry or Grafana is packaged for these machines. These servers follow the documented
requests and answers: Sentry ``GET /api/0/organizations/{org}/projects/`` and
``GET /api/0/organizations/{org}/issues/`` (bearer token, ``is:unresolved firstSeen:-24h``
search, ``Link`` header pagination with ``results="true"``); Grafana ``GET /api/health``,
``GET /api/datasources`` and ``GET /api/datasources/uid/{uid}/health`` (200 ``OK`` / 400
``ERROR`` / 404 "Health check not implemented").
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class SentryData:
    token: str
    organization: str
    projects: dict[str, str]  # slug -> id
    issues: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 100
    honour_first_seen: bool = True  # False: a search that returns every unresolved issue
    requests: list[str] = field(default_factory=list)


def sentry_issue(number: int, project: str, first_seen: datetime, **extra: Any) -> dict[str, Any]:
    """An issue as the documented example shows it."""
    return {
        "id": str(number),
        "shortId": f"{project.upper()}-{number}",
        "title": extra.pop("title", f"ZeroDivisionError: division by zero ({number})"),
        "culprit": "app.api.courses in list_courses",
        "level": "error",
        "status": extra.pop("status", "unresolved"),
        "firstSeen": iso(first_seen),
        "lastSeen": iso(first_seen + timedelta(minutes=5)),
        "count": str(extra.pop("count", 3)),
        "userCount": 1,
        "assignedTo": None,
        "isBookmarked": False,
        "isSubscribed": True,
        "isPublic": False,
        "project": {"id": "0", "name": project, "slug": project},
        **extra,
    }


@dataclass
class GrafanaData:
    token: str
    database: str = "ok"
    #: uid -> (name, type, health: "OK" | "ERROR" | "UNSUPPORTED", message)
    datasources: dict[str, tuple[str, str, str, str]] = field(default_factory=dict)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.app(self)

    def answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, app: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.app = app


@contextmanager
def _serving(app: Any) -> Iterator[str]:
    server = _Server(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _authorized(handler: _Handler, token: str) -> bool:
    if handler.headers.get("Authorization") == f"Bearer {token}":
        return True
    handler.answer(401, {"detail": "Invalid token"})
    return False


@contextmanager
def sentry(data: SentryData) -> Iterator[str]:
    def app(handler: _Handler) -> None:
        data.requests.append(handler.path)
        url = urlsplit(handler.path)
        match = re.fullmatch(r"/api/0/organizations/([^/]+)/(projects|issues)/", url.path)
        if not _authorized(handler, data.token):
            return
        if match is None or match[1] != data.organization:
            handler.answer(404, {"detail": "The requested resource does not exist"})
            return
        if match[2] == "projects":
            projects = [{"id": i, "slug": s, "name": s.title()} for s, i in data.projects.items()]
            handler.answer(200, projects)
            return
        _issues(handler, parse_qs(url.query), data, f"http://{handler.headers['Host']}{url.path}")

    with _serving(app) as base:
        yield base


def _issues(handler: _Handler, params: dict[str, list[str]], data: SentryData, url: str) -> None:
    query = params.get("query", ["is:unresolved"])[0]
    wanted_ids = set(params.get("project", []))
    slugs = {i: s for s, i in data.projects.items()}
    if not wanted_ids <= slugs.keys():
        handler.answer(403, {"detail": "You do not have permission to perform this action."})
        return
    found = [
        i
        for i in data.issues
        if not wanted_ids or i["project"]["slug"] in {slugs[p] for p in wanted_ids}
    ]
    if "is:unresolved" in query:
        found = [i for i in found if i["status"] == "unresolved"]
    age = re.search(r"firstSeen:-(\d+)h", query)
    if age and data.honour_first_seen:
        since = datetime.now(UTC) - timedelta(hours=int(age[1]))
        found = [
            i
            for i in found
            if datetime.fromisoformat(i["firstSeen"].replace("Z", "+00:00")) >= since
        ]
    offset = int(params.get("cursor", ["0:0:0"])[0].split(":")[1])
    page = found[offset : offset + data.page_size]
    more = offset + data.page_size < len(found)
    nxt = f"0:{offset + data.page_size}:0"
    kept = [(k, v) for k, v in parse_qsl(urlsplit(handler.path).query) if k != "cursor"]
    link = (
        f'<{url}?{urlencode([*kept, ("cursor", "0:0:1")])}>; rel="previous"; results="false"; '
        f'cursor="0:0:1", <{url}?{urlencode([*kept, ("cursor", nxt)])}>; rel="next"; '
        f'results="{str(more).lower()}"; cursor="{nxt}"'
    )
    handler.answer(200, page, {"Link": link})


@contextmanager
def grafana(data: GrafanaData) -> Iterator[str]:
    def app(handler: _Handler) -> None:
        path = urlsplit(handler.path).path
        if path == "/api/health":  # no authentication, as in Grafana
            status = 200 if data.database == "ok" else 503
            body = {"commit": "0a1b2c3", "database": data.database, "version": "10.4.1"}
            handler.answer(status, body)
            return
        if not _authorized(handler, data.token):
            return
        if path == "/api/datasources":
            handler.answer(
                200, [_datasource(n, uid, d) for n, (uid, d) in enumerate(data.datasources.items())]
            )
            return
        match = re.fullmatch(r"/api/datasources/uid/([^/]+)/health", path)
        if match is None or match[1] not in data.datasources:
            handler.answer(404, {"message": "Data source not found"})
            return
        _, _, health, message = data.datasources[match[1]]
        if health == "UNSUPPORTED":
            handler.answer(404, {"message": "Health check not implemented"})
        else:
            handler.answer(200 if health == "OK" else 400, {"status": health, "message": message})

    with _serving(app) as base:
        yield base


def _datasource(n: int, uid: str, fields: tuple[str, str, str, str]) -> dict[str, Any]:
    name, kind, _, _ = fields
    return {
        "id": n + 1,
        "uid": uid,
        "orgId": 1,
        "name": name,
        "type": kind,
        "typeName": kind.title(),
        "access": "proxy",
        "url": "http://prometheus:9090",
        "isDefault": n == 0,
        "readOnly": False,
    }
