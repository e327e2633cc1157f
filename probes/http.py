"""HTTP measurements: one GET, its status, latency and body, with the URL in every error."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from config.durations import format_duration
from config.model import Timeouts
from probes.errors import NoAnswer, Unreachable


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
    started = time.perf_counter()
    try:
        response = http.get(url)
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
        status=response.status_code,
        latency=latency,
        body=response.text[:max_body],
        headers={k.lower(): v for k, v in response.headers.items()},
    )
