"""Object storage (S3-compatible) reachability: one unauthenticated HEAD of the bucket.

No credentials are sent, so nothing is signed and nothing can be changed. What the answer means:
2xx (a public bucket) or 403 (S3's answer to an anonymous request for a private bucket) — the
endpoint serves that bucket; 301/307 — the bucket lives in another region (reachable, but the
endpoint is wrong); 404 — no such bucket; 5xx — the store is failing; no answer — unreachable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import httpx

from lms_opscheck.config.incident import ObjectStorage
from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes.headers import tls_trust
from lms_opscheck.probes.http import answered

REACHABLE = {200, 204, 403}


@dataclass(frozen=True)
class BucketAnswer:
    url: str
    status: int
    latency: timedelta
    server: str  # the Server header, or the S3 error code when one came back
    region: str  # x-amz-bucket-region, when the store sends it

    @property
    def reachable(self) -> bool:
        return self.status in REACHABLE

    def meaning(self) -> str:
        if self.status == 403:
            return "403: the endpoint serves the bucket and refuses anonymous requests"
        if self.status in (200, 204):
            return f"{self.status}: the bucket answers (it is readable anonymously)"
        if self.status in (301, 307, 400) and self.region:
            return f"{self.status}: the bucket lives in region {self.region}, not at this endpoint"
        if self.status == 404:
            return "404: no such bucket at this endpoint"
        if self.status >= 500:
            return f"{self.status}: the store is failing"
        return f"{self.status}: unexpected answer"


def head_bucket(storage: ObjectStorage, timeouts: Timeouts) -> BucketAnswer:
    timeout = httpx.Timeout(
        timeouts.request.total_seconds(), connect=timeouts.connect.total_seconds()
    )
    trust = tls_trust(storage.ca_file, storage.verify_tls)
    url = storage.url
    started = time.perf_counter()
    with answered(url), httpx.Client(timeout=timeout, verify=trust, follow_redirects=False) as c:
        response = c.head(url)
    return BucketAnswer(
        url=url,
        status=response.status_code,
        latency=timedelta(seconds=time.perf_counter() - started),
        server=response.headers.get("server", ""),
        region=response.headers.get("x-amz-bucket-region", ""),
    )
