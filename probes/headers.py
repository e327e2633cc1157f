"""Security headers of an HTTP answer, and which documentation paths answer: GET only.

Only the status line and headers are read (the body is never downloaded). An endpoint known by
an address is asked with the configured server name as SNI and ``Host``, as a browser would.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes.errors import NoAnswer, Unreachable
from lms_opscheck.probes.http import ssl_context

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

    One shared context per setting: ``verify=True`` would make httpx build one per client
    (~15 ms of CPU each, even for http://), 3 s for 200 replicas' headers.
    """
    return ssl_context(verify, str(ca_file) if ca_file else None)


def get_head(
    url: str, timeouts: Timeouts, trust: ssl.SSLContext, server_name: str | None = None
) -> Answer:
    """GET ``url`` and keep its status and headers; the body is not read."""
    timeout = httpx.Timeout(
        timeouts.request.total_seconds(), connect=timeouts.connect.total_seconds()
    )
    extensions = {"sni_hostname": server_name} if server_name else {}
    headers = {"Host": server_name} if server_name else {}
    try:
        with (
            httpx.Client(timeout=timeout, verify=trust, follow_redirects=False) as client,
            client.stream("GET", url, headers=headers, extensions=extensions) as response,
        ):
            return Answer(
                url, response.status_code, {k.lower(): v for k, v in response.headers.items()}
            )
    except httpx.ConnectTimeout:
        raise Unreachable(url, "connect timed out") from None
    except httpx.TimeoutException:
        raise NoAnswer(url, "connected but no answer within the timeout") from None
    except httpx.ConnectError as exc:
        raise Unreachable(url, f"cannot connect ({exc})") from None
    except httpx.HTTPError as exc:
        raise NoAnswer(url, f"{type(exc).__name__}: {exc}") from None


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
