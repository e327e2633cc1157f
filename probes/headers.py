"""Security headers of an HTTP answer, and which documentation paths answer: GET only.

Only the status line and headers are read (the body is never downloaded), on the run's shared
HTTP session with the health probes. An endpoint known by an address is asked with the
configured server name as SNI and ``Host``, as a browser would.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from lms_opscheck.probes.http import Request, Session, ssl_context

CLOSED = (401, 403, 404)
_MAX_AGE = re.compile(r"(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:;|$)", re.I)


@dataclass(frozen=True)
class Answer:
    url: str
    status: int
    headers: dict[str, str]  # names lower-cased

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def tls_trust(ca_file: Path | None, verify: bool = True) -> ssl.SSLContext:
    """What httpx verifies answers against: the CA file, the system store, or nothing.

    One shared context per setting per process (building one costs ~15 ms of CPU).
    """
    return ssl_context(verify, str(ca_file) if ca_file else None)


async def head(session: Session, request: Request) -> Answer:
    """GET ``request.url`` on the run's shared session and keep its status and headers only."""
    reply = await session.get(replace(request, max_body=0))
    return Answer(reply.url, reply.status, reply.headers)


def header_problems(answer: Answer, required: Mapping[str, str | None]) -> list[str]:
    """Each required header that is missing, or whose value does not match the policy."""
    problems = []
    for name, pattern in required.items():
        value = answer.header(name)
        if value is None:
            problems.append(f"{name} missing")
        elif pattern is not None and not re.search(pattern, value):
            problems.append(f"{name} is {value[:80]!r}, expected /{pattern}/")
    return problems


def hsts_max_age(value: str | None) -> int | None:
    """max-age of a Strict-Transport-Security value, None when absent or unreadable."""
    match = _MAX_AGE.search(value or "")
    return int(match.group(1)) if match else None


def open_paths(statuses: Mapping[str, int]) -> dict[str, int]:
    """Paths that answered anything but 401/403/404."""
    return {path: status for path, status in statuses.items() if status not in CLOSED}
