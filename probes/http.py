"""HTTP measurements: one GET, its status, latency and body, with the URL in every error."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes.errors import NoAnswer, Unreachable


@dataclass(frozen=True)
class HttpReply:
    url: str
    status: int
    latency: timedelta
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __str__(self) -> str:
        return f"GET {self.url} -> {self.status} in {format_duration(self.latency)}"


def client(timeouts: Timeouts, verify: bool = True) -> httpx.Client:
    """A client that never waits longer than the environment allows and never follows redirects."""
    timeout = httpx.Timeout(
        timeouts.request.total_seconds(), connect=timeouts.connect.total_seconds()
    )
    return httpx.Client(timeout=timeout, verify=verify, follow_redirects=False)


def get(http: httpx.Client, url: str, max_body: int = 64 * 1024) -> HttpReply:
    """GET ``url``; read at most ``max_body`` bytes, within connect + read timeout in total.

    httpx's timeouts apply per read: a server that trickles a byte at a time would never time
    out, so the body is streamed against a whole-answer bound.
    """
    started = time.perf_counter()
    limit = (http.timeout.connect or 0) + (http.timeout.read or 0) or 5.0
    try:
        with http.stream("GET", url) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) >= max_body:
                    break
                if time.perf_counter() - started > limit:
                    raise NoAnswer(url, f"answer still arriving after {limit:g}s")
            encoding = response.encoding or "utf-8"
            status, headers = response.status_code, response.headers
    except httpx.ConnectTimeout:
        raise Unreachable(url, "connect timed out") from None
    except httpx.TimeoutException:
        raise NoAnswer(url, "connected but no answer within the timeout") from None
    except httpx.ConnectError as exc:
        raise Unreachable(url, f"cannot connect ({exc})") from None
    except httpx.HTTPError as exc:
        raise NoAnswer(url, f"{type(exc).__name__}: {exc}") from None
    latency = timedelta(seconds=time.perf_counter() - started)
    return HttpReply(
        url=url,
        status=status,
        latency=latency,
        body=bytes(body[:max_body]).decode(encoding, errors="replace"),
        headers={k.lower(): v for k, v in headers.items()},
    )
