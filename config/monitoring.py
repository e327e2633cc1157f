"""Monitoring in an environment: Prometheus (alerts, SLO series, targets), Sentry, Grafana, SLOs.

PromQL templates take ``$selector`` (the LMS's series, default from ``jobs``) and ``$window``
(the range, ``window`` or ``availability_window``); ``${...}`` is the loader's interpolation, so
the templates use the brace-less form.
"""

from __future__ import annotations

import re
from datetime import timedelta
from string import Template
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from lms_opscheck.config.durations import Duration
from lms_opscheck.config.levels import Frozen, Ratio

_URL = re.compile(r"^https?://[^/\s@]+(/\S*)?$")
_JOB = re.compile(r"^[A-Za-z0-9_.:-]+$")

#: Non-5xx share of the requests over the availability window. ``or vector(0)``: a healthy
#: LMS has no 5xx series at all, and an empty numerator must not read as "no data".
AVAILABILITY = (
    '1 - ((sum(increase(http_requests_total{$selector,status=~"5.."}[$window])) or vector(0))'
    " / sum(increase(http_requests_total{$selector}[$window])))"
)
LATENCY_P95 = (
    "histogram_quantile(0.95, sum by (le) "
    "(rate(http_request_duration_seconds_bucket{$selector}[$window])))"
)
ERROR_RATE = (
    '(sum(rate(http_requests_total{$selector,status=~"5.."}[$window])) or vector(0))'
    " / sum(rate(http_requests_total{$selector}[$window]))"
)
SloName = Literal["availability", "latency_p95", "error_rate"]


def http_url(url: str, what: str) -> str:
    """An http(s) base URL without credentials (URLs are printed in evidence and alerts)."""
    if not _URL.match(url):
        raise ValueError(f"{what} is not an http(s) URL without credentials")
    return url.rstrip("/")


class SloQueries(Frozen):
    """PromQL of each SLO; each must return one sample (a ratio, or seconds for latency)."""

    availability: str = AVAILABILITY
    latency_p95: str = LATENCY_P95
    error_rate: str = ERROR_RATE


class PrometheusTarget(Frozen):
    #: "" declares that this environment has no Prometheus (the sandbox without the binary):
    #: its checks skip and say so, even under strict.
    url: str
    jobs: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["lms-api"])
    selector: str | None = None
    window: Duration = timedelta(days=1)
    availability_window: Duration = timedelta(days=30)
    queries: SloQueries = SloQueries()
    critical_label: str = "severity"
    critical_values: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["critical"]
    )
    min_alertmanagers: Annotated[int, Field(ge=0)] = 1
    token: SecretStr | None = None
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return http_url(url, "the Prometheus url") if url else ""

    @field_validator("jobs")
    @classmethod
    def _jobs(cls, jobs: list[str]) -> list[str]:
        for job in jobs:
            if not _JOB.match(job):
                raise ValueError(f"job {job!r} is not a plain scrape job name")
        return jobs

    @property
    def series_selector(self) -> str:
        """Label matchers of the LMS's own requests: its jobs, without Prometheus' scrapes."""
        if self.selector:
            return self.selector
        jobs = "|".join(job.replace(".", "\\\\.") for job in self.jobs)
        return f'job=~"{jobs}",path!="/metrics"'

    def query(self, name: SloName) -> str:
        window = self.availability_window if name == "availability" else self.window
        template = Template(getattr(self.queries, name))
        seconds = max(1, int(window.total_seconds()))
        return template.safe_substitute(selector=self.series_selector, window=f"{seconds}s")


class SentryTarget(Frozen):
    url: str = "https://sentry.io"
    organization: str
    projects: Annotated[list[str], Field(min_length=1)]  # project slugs
    environment: str | None = None
    token: SecretStr
    window: Duration = timedelta(hours=24)
    max_new_issues: Annotated[int, Field(ge=0)] = 0
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return http_url(url, "the Sentry url")


class GrafanaTarget(Frozen):
    url: str
    #: a service-account token (Viewer is enough for /api/datasources and their health)
    token: SecretStr | None = None
    #: data source names or uids whose health is checked; empty: every data source
    datasources: list[str] = Field(default_factory=list)
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return http_url(url, "the Grafana url")


class Slo(Frozen):
    """Service-level objectives (lms-target.md); k6 summaries and Prometheus are held to them."""

    availability: Ratio = 0.999
    latency_p95: Duration = timedelta(milliseconds=800)
    latency_p99: Duration = timedelta(seconds=2)
    error_rate: Ratio = 0.01
