"""The sandbox's weekly load test: real requests to the reference API, summarised in the JSON
k6 writes from ``handleSummary`` (``JSON.stringify(data)``; shape from k6's documentation — k6
itself is not installable here). Thresholds are the LMS's realistic test's (lms-target.md)."""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

SUMMARY_NAME = "k6_summary_{:%Y%m%d_%H%M%S}.json"
WEEKS_KEPT = 5
TREND_STATS = ("avg", "min", "med", "max", "p(90)", "p(95)", "p(99)")
#: the LMS's "realistic" k6 thresholds: metric -> (expression, statistic, bound, below)
THRESHOLDS: dict[str, tuple[str, str, float, bool]] = {
    "http_req_duration": ("p(95)<800", "p(95)", 800.0, True),
    "http_req_failed": ("rate<0.02", "rate", 0.02, True),
    "checks": ("rate>0.98", "rate", 0.98, False),
}


def run_load_test(base_url: str, requests: int = 400, workers: int = 4) -> dict[str, Any]:
    """GET /api/v1/health ``requests`` times from ``workers`` threads; the k6 summary data."""
    per_worker = max(1, requests // workers)

    def worker(_: int) -> list[tuple[float, int]]:
        samples = []
        with httpx.Client(timeout=5.0) as client:
            for _ in range(per_worker):
                started = time.perf_counter()
                try:
                    status = client.get(f"{base_url}/api/v1/health").status_code
                except httpx.HTTPError:
                    status = 0
                samples.append(((time.perf_counter() - started) * 1000, status))
        return samples

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        samples = [s for batch in pool.map(worker, range(workers)) for s in batch]
    elapsed_ms = (time.perf_counter() - started) * 1000
    return handle_summary_data(samples, elapsed_ms, workers)


def handle_summary_data(
    samples: Sequence[tuple[float, int]], elapsed_ms: float, vus: int
) -> dict[str, Any]:
    """k6's summary object for HTTP samples (duration ms, status); status 0: no answer."""
    durations = [d for d, _ in samples]
    failed = sum(1 for _, status in samples if not 200 <= status < 400)
    checked_ok = sum(1 for _, status in samples if status == 200)
    count, seconds = len(samples), elapsed_ms / 1000
    metrics: dict[str, Any] = {
        "http_reqs": _metric("counter", {"count": count, "rate": count / seconds}),
        "http_req_duration": _metric("trend", _trend(durations), contains="time"),
        # k6 rate metrics count non-zero samples as "passes": here, the failed requests.
        "http_req_failed": _metric(
            "rate", {"rate": failed / count, "passes": failed, "fails": count - failed}
        ),
        "checks": _metric(
            "rate",
            {"rate": checked_ok / count, "passes": checked_ok, "fails": count - checked_ok},
        ),
        "iterations": _metric("counter", {"count": count, "rate": count / seconds}),
        "vus": _metric("gauge", {"value": vus, "min": vus, "max": vus}),
    }
    for name, (expression, statistic, bound, below) in THRESHOLDS.items():
        value = float(metrics[name]["values"][statistic])
        passed = value < bound if below else value > bound
        metrics[name]["thresholds"] = {expression: {"ok": passed}}
    return {
        "root_group": {
            "name": "",
            "path": "",
            "id": "d41d8cd98f00b204e9800998ecf8427e",
            "groups": [],
            "checks": [
                {
                    "name": "status is 200",
                    "path": "::status is 200",
                    "id": "6210a8cd14cd70477eba5c5e4cb3fb5f",
                    "passes": checked_ok,
                    "fails": count - checked_ok,
                }
            ],
        },
        "options": {"summaryTrendStats": list(TREND_STATS), "summaryTimeUnit": "", "noColor": True},
        "state": {"isStdOutTTY": False, "isStdErrTTY": False, "testRunDurationMs": elapsed_ms},
        "metrics": metrics,
    }


def _metric(kind: str, values: dict[str, Any], contains: str = "default") -> dict[str, Any]:
    return {"type": kind, "contains": contains, "values": values}


def _trend(durations: Sequence[float]) -> dict[str, float]:
    ordered = sorted(durations)

    def pct(p: float) -> float:  # k6 interpolates between the closest ranks
        rank = p / 100 * (len(ordered) - 1)
        low, high = math.floor(rank), math.ceil(rank)
        return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)

    return {
        "avg": statistics.fmean(ordered),
        "min": ordered[0],
        "med": statistics.median(ordered),
        "max": ordered[-1],
        "p(90)": pct(90),
        "p(95)": pct(95),
        "p(99)": pct(99),
    }


def refresh_summaries(directory: Path, base_url: str, now: datetime) -> Path:
    """This week's load test unless one ran in the last 6 days; earlier weeks kept as history."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(directory.glob("k6_summary_*.json"))
    recent = [p for p in existing if _stamp(p) > now - timedelta(days=6)]
    if recent:
        newest = recent[-1]
    else:
        newest = directory / SUMMARY_NAME.format(now)
        data = run_load_test(base_url)
        partial = newest.with_suffix(".partial")
        partial.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(partial, newest)
    newest_at = _stamp(newest)
    for week in range(1, WEEKS_KEPT):
        moment = newest_at - timedelta(weeks=week)
        if not any(abs(_stamp(p) - moment) < timedelta(days=3) for p in existing):
            shutil.copyfile(newest, directory / SUMMARY_NAME.format(moment))
    for old in directory.glob("k6_summary_*.json"):
        if _stamp(old) < now - timedelta(weeks=WEEKS_KEPT, days=1):
            old.unlink()
    return newest


def _stamp(path: Path) -> datetime:
    stamp = path.stem.removeprefix("k6_summary_")
    try:
        return datetime.strptime(stamp, "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
