"""Write LMS logs for self-tests: timed events rendered in the LMS's own formats."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from lms_opscheck.sandbox.logs import lms_line, request_lines

MINUTE = timedelta(minutes=1)
Event = tuple[datetime, list[str]]


def health(start: datetime, stop: datetime, every: timedelta = MINUTE) -> list[Event]:
    """A health check every ``every``: an app.request line and a uvicorn access line each."""
    events: list[Event] = []
    moment = start
    while moment < stop:
        events.append((moment, request_lines(moment, "127.0.0.1", "GET", "/api/v1/health", 200)))
        moment += every
    return events


def burst(start: datetime, count: int, make: Callable[[datetime, int], list[str]]) -> list[Event]:
    """``count`` events one second apart, each rendered by ``make(moment, index)``."""
    moments = [start + timedelta(seconds=i) for i in range(count)]
    return [(moment, make(moment, i)) for i, moment in enumerate(moments)]


def write(path: Path, *streams: list[Event], mtime: datetime, gz: bool = False) -> Path:
    """The events of ``streams`` in time order, gzipped if asked, with the given mtime."""
    events = sorted((e for stream in streams for e in stream), key=lambda e: e[0])
    data = "".join(line + "\n" for _, lines in events for line in lines).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


def db_error(moment: datetime, i: int) -> list[str]:
    """An LMS database error with the first line of its traceback."""
    message = f"pool timeout after {30 + i}s for user{i}@lms.example (request 'a{i:04x}')"
    return [lms_line(moment, "ERROR", "app.db", message), "Traceback (most recent call last):"]


def failed_login(client: str) -> Callable[[datetime, int], list[str]]:
    def make(moment: datetime, _: int) -> list[str]:
        return request_lines(moment, client, "POST", "/api/v1/auth/login", 401)

    return make


def scanner(client: str) -> Callable[[datetime, int], list[str]]:
    def make(moment: datetime, i: int) -> list[str]:
        path = ("/.env", "/.git/config", "/wp-admin/", "/phpmyadmin/", "/..%2f..%2fetc/passwd")
        return request_lines(moment, client, "GET", f"{path[i % 5]}?{i}", 404)

    return make
