"""The sandbox's application log history: what a week of LMS logging with logrotate leaves.

The running API writes ``logs/app.log`` itself (sandbox/api.py: the LMS's plain-text lines and
uvicorn's access lines). At each ``up`` this module plays the container health check (one real
GET) and rewrites the rotated history *before* the live log's first line: ``app.log.1`` (plain,
logrotate's delaycompress) and ``app.log.2.gz`` ... ``app.log.8.gz``, one day each, with
health checks, Prometheus scrapes, some users, now and then a wrong password, a 404 or an error.
Two incidents sit outside the daily window but inside the weekly one, so the daily review is
clean and the weekly access-log review has something to find:

- 30 h before the live log: a database error burst (25 ERROR lines with tracebacks, 500s);
- 3 days before: a scanner (203.0.113.77) probing 30 paths no LMS serves within 45 s.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path

import httpx

# One CA bundle load per process (httpx loads certifi's for every call: ~20 ms each).
from lms_opscheck.probes.http import ssl_context

LOG_NAME = "app.log"
HISTORY_DAYS = 8
SCANNER = "203.0.113.77"
SCANNER_AGE = timedelta(days=3)
ERROR_BURST_AGE = timedelta(hours=30)
SCANNED_PATHS = (
    "/.env", "/.env.production", "/.git/config", "/.git/HEAD", "/.aws/credentials",
    "/wp-admin/", "/wp-login.php", "/xmlrpc.php", "/phpmyadmin/", "/phpMyAdmin/index.php",
    "/phpinfo.php", "/static/..%2f..%2fetc/passwd", "/cgi-bin/luci", "/actuator/env",
    "/server-status", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/boaform/admin",
    "/.ssh/id_rsa", "/api/v1/..%2f..%2fetc/passwd", "/wp-content/plugins/", "/admin/.env",
    "/backup/.env", "/app/.env", "/.git/index", "/actuator/health", "/phpmyadmin/setup",
    "/wp-admin/setup-config.php", "/cgi-bin/test.cgi", "/server-status?auto", "/.env.bak",
)  # fmt: skip
_FIRST_STAMP = re.compile(rb"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})", re.M)


def lms_line(moment: datetime, level: str, logger: str, message: str) -> str:
    """``%(asctime)s %(levelname)s [%(name)s] %(message)s`` with logging's default asctime."""
    stamp = f"{moment:%Y-%m-%d %H:%M:%S},{moment.microsecond // 1000:03d}"
    return f"{stamp} {level} [{logger}] {message}"


def access_line(client: str, method: str, path: str, status: int, port: int = 40000) -> str:
    """uvicorn's access line (its AccessFormatter without colours)."""
    phrase = HTTPStatus(status).phrase
    return f'INFO:     {client}:{port} - "{method} {path} HTTP/1.1" {status} {phrase}'


def request_lines(
    moment: datetime, client: str, method: str, path: str, status: int, ms: float = 12.5
) -> list[str]:
    """What the LMS logs for one request: its app.request line, then uvicorn's access line."""
    return [
        lms_line(moment, "INFO", "app.request", f"{method} {path} -> {status} ({ms:.2f} ms)"),
        access_line(client, method, path, status, 32768 + int(moment.timestamp()) % 28000),
    ]


def json_line(moment: datetime, level: str, message: str, **fields: object) -> str:
    """The documented JSON-lines format (timestamp, level, message, request_id, ...)."""
    record = {"timestamp": moment.isoformat(), "level": level, "message": message, **fields}
    return json.dumps(record)


def refresh(logs_dir: Path, api_port: int, now: datetime) -> None:
    """Play the container health check, then rewrite the history before the live log."""
    logs_dir.mkdir(parents=True, exist_ok=True)
    # A real request: the live log gets a fresh line, as the health check leaves in production.
    # A dead API is the health checks' finding (HLT-01); the history does not need it.
    with contextlib.suppress(httpx.HTTPError):
        url = f"http://127.0.0.1:{api_port}/api/v1/health"
        httpx.get(url, timeout=2, verify=ssl_context(True))
    end = first_line_time(logs_dir / LOG_NAME) or now
    marker = logs_dir / ".history-end"
    if marker.exists() and marker.read_text() == end.isoformat():
        return
    write_history(logs_dir, end)
    marker.write_text(end.isoformat())


def first_line_time(path: Path) -> datetime | None:
    try:
        with path.open("rb") as log:
            head = log.read(64 << 10)
    except OSError:
        return None
    match = _FIRST_STAMP.search(head)
    if match is None:
        return None
    moment = datetime.strptime(match[1].decode(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return moment + timedelta(milliseconds=int(match[2]))


def write_history(logs_dir: Path, end: datetime) -> None:
    """``app.log.1`` .. ``app.log.8.gz``: the days before ``end``, newest first."""
    for stale in logs_dir.glob(f"{LOG_NAME}.*"):
        stale.unlink()
    for day in range(1, HISTORY_DAYS + 1):
        start, stop = end - timedelta(days=day), end - timedelta(days=day - 1)
        lines = "".join(line + "\n" for line in day_of_logging(start, stop, end))
        name = f"{LOG_NAME}.{day}" + (".gz" if day > 1 else "")
        path = logs_dir / name
        data = lines.encode()
        path.write_bytes(gzip.compress(data, mtime=0) if day > 1 else data)
        last = stop - timedelta(seconds=1)
        os.utime(path, (last.timestamp(), last.timestamp()))


def day_of_logging(start: datetime, stop: datetime, end: datetime) -> Iterator[str]:
    """Every line the LMS would have logged between ``start`` and ``stop``, in order."""
    rng = random.Random(int(start.timestamp()) // 86400)
    events: list[tuple[datetime, list[str]]] = []
    moment = start
    while moment < stop:  # the container health check and Prometheus, once a minute each
        events.append((moment, request_lines(moment, "127.0.0.1", "GET", "/api/v1/health", 200)))
        scrape = moment + timedelta(seconds=30, milliseconds=rng.randint(0, 999))
        events.append((scrape, request_lines(scrape, "10.0.0.5", "GET", "/metrics", 200, 3.1)))
        if rng.random() < 0.25:
            events.append(_user_request(moment + timedelta(seconds=rng.randint(1, 29)), rng))
        moment += timedelta(minutes=1)
    noon = start + timedelta(hours=rng.randint(2, 20))
    events.append(
        (
            noon,
            [
                lms_line(
                    noon,
                    "ERROR",
                    "app.tasks.email",
                    "SMTP timeout sending enrollment mail to student42@lms.example after 30s",
                )
            ],
        )
    )
    for incident_age, incident in ((ERROR_BURST_AGE, _error_burst), (SCANNER_AGE, _scan)):
        at = end - incident_age
        if start <= at < stop:
            events.extend(incident(at))
    events.sort(key=lambda event: event[0])
    for _, lines in events:
        yield from lines


def _user_request(moment: datetime, rng: random.Random) -> tuple[datetime, list[str]]:
    client = f"198.51.100.{rng.randint(10, 60)}"
    roll = rng.random()
    if roll < 0.03:
        return moment, request_lines(moment, client, "POST", "/api/v1/auth/login", 401, 180.0)
    if roll < 0.05:
        return moment, request_lines(moment, client, "GET", "/api/v1/courses/999", 404, 8.0)
    path = rng.choice(("/api/v1/courses", "/api/v1/auth/me", "/api/v1/enrollments"))
    return moment, request_lines(moment, client, "GET", path, 200, rng.uniform(8, 120))


def _error_burst(at: datetime) -> Iterator[tuple[datetime, list[str]]]:
    for i in range(25):
        moment = at + timedelta(seconds=9 * i)
        client = f"198.51.100.{20 + i % 7}"
        yield (
            moment,
            [
                lms_line(
                    moment,
                    "ERROR",
                    "app.db",
                    "QueuePool limit of size 20 overflow 10 reached, "
                    f"connection timed out, timeout {30 + i % 3}.00 (request {i:04x}ab12)",
                ),
                "Traceback (most recent call last):",
                '  File "/app/app/db/session.py", line 42, in get_session',
                "sqlalchemy.exc.TimeoutError: QueuePool limit of size 20 overflow 10 reached",
                *request_lines(moment, client, "GET", "/api/v1/courses", 500, 30004.2),
            ],
        )


def _scan(at: datetime) -> Iterator[tuple[datetime, list[str]]]:
    for i, path in enumerate(SCANNED_PATHS):
        moment = at + timedelta(milliseconds=1500 * i)
        yield moment, request_lines(moment, SCANNER, "GET", path, 404, 1.2)
