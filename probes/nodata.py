"""``NoData``: the source answered but holds nothing to judge — never a value that passes.

A query with no series or NaN, a scrape job with no target, a Celery queue nobody declared, a
project that does not exist: the check could not measure (an *error*, distinct from *failed*).
"""

from __future__ import annotations

import httpx

from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes import http_sync as http
from lms_opscheck.probes.errors import MeasurementError


class NoData(MeasurementError):
    """The source answered, but holds nothing to judge (no series, no samples, no rows)."""


def bearer_client(
    timeouts: Timeouts, token: str | None = None, verify: bool = True
) -> httpx.Client:
    """The HTTP probe's bounded client, with a bearer token when the API needs one."""
    bounded = http.client(timeouts, verify=verify)
    if token:
        bounded.headers["Authorization"] = f"Bearer {token}"
    return bounded
