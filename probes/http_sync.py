"""One bounded HTTP GET on a synchronous client, for API calls outside the fleet measurement.

The API checks measure every replica on one event loop (``probes/http.py``); the monitoring
probes (Prometheus, Sentry, Grafana) make a few calls each and use this instead. The answer is
read against a whole-answer bound: a server that trickles bytes cannot hold a check.
"""

from __future__ import annotations

import time
from datetime import timedelta

import httpx

from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes.errors import NoAnswer
from lms_opscheck.probes.http import MAX_BODY, HttpReply, answered, ssl_context


def client(timeouts: Timeouts, verify: bool = True) -> httpx.Client:
    """A client that never waits longer than the environment allows and never follows redirects."""
    timeout = httpx.Timeout(
        timeouts.request.total_seconds(), connect=timeouts.connect.total_seconds()
    )
    # The shared context: httpx would build one per client (~15 ms of CPU each).
    return httpx.Client(timeout=timeout, verify=ssl_context(verify), follow_redirects=False)


def get(http: httpx.Client, url: str, max_body: int = MAX_BODY) -> HttpReply:
    """GET ``url``; read at most ``max_body`` bytes, within connect + read timeout in total.

    httpx's timeouts apply per read: a server that trickles a byte at a time would never time
    out, so the body is streamed against a whole-answer bound.
    """
    started = time.perf_counter()
    limit = (http.timeout.connect or 0) + (http.timeout.read or 0) or 5.0
    with answered(url), http.stream("GET", url) as response:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= max_body:
                break
            if time.perf_counter() - started > limit:
                raise NoAnswer(url, f"answer still arriving after {limit:g}s")
        encoding = response.encoding or "utf-8"
        status, headers = response.status_code, response.headers
    latency = timedelta(seconds=time.perf_counter() - started)
    return HttpReply(
        url=url,
        status=status,
        latency=latency,
        body=bytes(body[:max_body]).decode(encoding, errors="replace"),
        headers={k.lower(): v for k, v in headers.items()},
    )


__all__ = ["HttpReply", "client", "get"]
