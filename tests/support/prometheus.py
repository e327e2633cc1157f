"""A real Prometheus (Debian's ``prometheus``) scraping a private stack's API every second."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx

from lms_opscheck.sandbox import monitoring
from lms_opscheck.sandbox.processes import stop, wait_until

MISSING = "the prometheus binary is absent: apt-get install prometheus to test monitoring checks"
#: Rules that fire at once (for: 0s) on what the fault switches break.
FIRING_RULES = """\
groups:
  - name: selftest
    rules:
      - alert: LMSHealthFailing
        expr: >-
          sum(rate(http_requests_total{job="lms-api",path="/api/v1/health",status=~"5.."}[1m])) > 0
        for: 0s
        labels: {severity: critical}
        annotations: {summary: "the health endpoint answers 5xx"}
      - alert: LMSSlowRequests
        expr: >-
          histogram_quantile(0.95, sum by (le)
          (rate(http_request_duration_seconds_bucket{job="lms-api"}[1m]))) > 0.5
        for: 0s
        labels: {severity: warning}
        annotations: {summary: "p95 above 500ms"}
"""


@contextmanager
def running_prometheus(
    directory: Path, api_port: int, rules: str = FIRING_RULES, alertmanager: str | None = None
) -> Iterator[str]:
    """Prometheus on a free loopback port scraping the API every 1s; stopped at the end."""
    pid, port = monitoring.start_prometheus(
        directory, api_port, rules=rules, interval="1s", alertmanager=alertmanager
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(pid)


def query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=2).json()
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def wait_for(url: str, promql: str, what: str, timeout: float = 30) -> None:
    """Until ``promql`` returns a series (Prometheus publishes targets ~5 s after it starts)."""
    wait_until(lambda: bool(query(url, promql)), timeout, what)


def requests(api_url: str, count: int, path: str = "/api/v1/health", workers: int = 8) -> None:
    """``count`` GETs, ``workers`` at a time, whatever they answer: users moving the series."""

    def get(_: int) -> None:
        with suppress(httpx.HTTPError):
            httpx.get(f"{api_url}{path}", timeout=5)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(get, range(count)))


def scraped_after(url: str, api_port: int, moment: float, timeout: float = 10) -> None:
    """Until the API's target was scraped after ``moment`` (time.time())."""

    def newer() -> bool:
        found = query(url, f'timestamp(up{{instance="127.0.0.1:{api_port}"}})')
        return bool(found) and float(found[0]["value"][1]) > moment + 0.05

    wait_until(newer, timeout, "a scrape after the traffic")


def traffic_counted(url: str, api_port: int, rounds: int = 2) -> None:
    """Requests between scrapes, ``rounds`` times: a series needs two samples for rate() (a new
    series' first sample is its first value, not an increase)."""
    wait_for(url, f'up{{instance="127.0.0.1:{api_port}"}}', "the first scrape of the API")
    for _ in range(rounds):
        requests(f"http://127.0.0.1:{api_port}", 20)
        scraped_after(url, api_port, time.time())
