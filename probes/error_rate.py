"""The 5xx share of the LMS's requests since a deploy, and over a baseline window before it.

Both ratios come from Prometheus (``http_requests_total`` of the LMS's jobs) as instant queries
of ``increase()``: the one since the deploy evaluated now over ``now - deployed_at``, the
baseline evaluated at the deploy over ``baseline``. No request since the deploy is ``NoData``
(nothing to judge: never a pass); no request in the baseline window leaves the baseline unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from lms_opscheck.config.monitoring import PrometheusTarget
from lms_opscheck.probes import prometheus
from lms_opscheck.probes.nodata import NoData

TOTAL = "sum(increase(http_requests_total{$selector}[$window]))"
ERRORS = 'sum(increase(http_requests_total{$selector,status=~"5.."}[$window])) or vector(0)'
STARTED = "max(process_start_time_seconds{$selector})"


@dataclass(frozen=True)
class Ratio:
    requests: float
    errors: float
    window: timedelta
    at: datetime

    @property
    def value(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class ErrorRates:
    target: str  # the Prometheus URL
    deployed_at: datetime
    deployed_at_source: str  # "--deployed-at", "$LMS_DEPLOYED_AT" or the query used
    since: Ratio
    baseline: Ratio | None  # None: no request in the baseline window


def _query(bounded: httpx.Client, target: PrometheusTarget, template: str, window: timedelta,
           at: datetime) -> prometheus.Sample:  # fmt: skip
    # Milliseconds: whole seconds cut up to 1 s off the start of a window "since the deploy",
    # enough to drop the first scrape after it (and with it the only increase a run just after a
    # deploy can see: "no traffic since the deploy").
    window_ms = max(1, int(window.total_seconds() * 1000))
    query = template.replace("$selector", target.series_selector).replace(
        "$window", f"{window_ms}ms"
    )
    params = {"query": query, "time": f"{at.timestamp():.3f}"}
    data = prometheus.api_get(bounded, target.url, "/api/v1/query", params)
    return prometheus.instant_value(data, f"{target.url}/api/v1/query", query)


def newest_process_start(bounded: httpx.Client, target: PrometheusTarget) -> tuple[datetime, str]:
    """When the newest process of the LMS's jobs started: the deploy, when none is given."""
    now = datetime.now(UTC)
    sample = _query(bounded, target, STARTED, timedelta(0), now)
    query = STARTED.replace("$selector", target.series_selector)
    return datetime.fromtimestamp(sample.value, UTC), f"newest process start ({query})"


def _ratio(bounded: httpx.Client, target: PrometheusTarget, window: timedelta,
           at: datetime) -> Ratio | None:  # fmt: skip
    try:
        total = _query(bounded, target, TOTAL, window, at)
    except NoData:
        return None
    if total.value <= 0:
        return None
    errors = _query(bounded, target, ERRORS, window, at)
    return Ratio(total.value, errors.value, window, at)


def error_rates(
    bounded: httpx.Client,
    target: PrometheusTarget,
    deployed_at: datetime,
    source: str,
    baseline: timedelta,
    now: datetime | None = None,
) -> ErrorRates:
    now = now or datetime.now(UTC)
    since = now - deployed_at
    where = f"{target.url}/api/v1/query"
    if since <= timedelta(0):
        raise NoData(where, f"the deploy ({deployed_at:%Y-%m-%dT%H:%M:%SZ}, {source}) is in "
                            "the future: nothing to judge yet")  # fmt: skip
    measured = _ratio(bounded, target, since, now)
    if measured is None:
        raise NoData(
            where,
            f"no traffic since the deploy at {deployed_at:%Y-%m-%dT%H:%M:%SZ} ({source}): no "
            f"http_requests_total increase for {target.series_selector}; nothing to judge",
        )
    before = _ratio(bounded, target, baseline, deployed_at)
    return ErrorRates(target.url, deployed_at, source, measured, before)
