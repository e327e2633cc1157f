"""Incident triage settings (runbook 3.1 P1, 3.2 P2): the ``incident:`` section of an environment.

Every key has a default taken from the LMS (lms-target.md and its public repository), so
``pytest -m incident`` works without the section; environments/prod.example.yaml documents them.
The log window is ``policy.logs.incident_window`` (shared with LOG-01/02's incident run).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from lms_opscheck.config.durations import Duration
from lms_opscheck.config.levels import Frozen, RatioLevels

#: The LMS's keys (Kandil7/lms_backend): AccountLockoutManager counts failed logins per client IP
#: in ``auth:failed_attempts:ip:<ip>`` behind the cache prefix ``app:cache``; the rate-limit
#: middleware counts requests in ``ratelimit[:<rule>]:ip:<ip>:<path>``.
LMS_LOCKOUT_PATTERNS = ("*auth:failed_attempts:ip:*",)
LMS_RATE_LIMIT_PATTERNS = ("ratelimit:*",)


class RedisKeys(Frozen):
    """Login lockout and rate-limit keys, counted with SCAN MATCH (never KEYS)."""

    lockout_patterns: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: list(LMS_LOCKOUT_PATTERNS)
    )
    rate_limit_patterns: list[str] = Field(default_factory=lambda: list(LMS_RATE_LIMIT_PATTERNS))
    #: a lockout key holds a failure count; the client is locked out from this many (the LMS's
    #: MAX_FAILED_LOGIN_ATTEMPTS); null: every matching key counts as locked out
    locked_at: Annotated[int, Field(ge=1)] | None = 5
    #: more locked-out clients than this is an authentication incident (INC-04 fails)
    max_locked_out: Annotated[int, Field(ge=0)] = 10
    #: SCAN's COUNT hint, and the most SCAN calls one triage may make over all patterns
    scan_count: Annotated[int, Field(ge=10, le=10_000)] = 1000
    max_scan_calls: Annotated[int, Field(ge=1, le=100_000)] = 1000
    #: how many locked-out keys the evidence lists
    shown: Annotated[int, Field(ge=1, le=50)] = 5

    @field_validator("lockout_patterns", "rate_limit_patterns")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        if any(not p.strip() or "\n" in p or p.strip() == "*" for p in patterns):
            raise ValueError("each pattern is a non-empty glob on one line, narrower than '*'")
        return patterns


class ObjectStorage(Frozen):
    """An S3-compatible endpoint (FILE_STORAGE_PROVIDER=s3): one unauthenticated HEAD of the
    bucket, bounded by the environment's timeouts. 403 from a live endpoint counts as reachable:
    S3 refuses anonymous requests to a private bucket, and that answer proves the endpoint and
    the bucket's region are serving; 404 (no such bucket), 5xx or no answer fail."""

    endpoint: str
    bucket: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    #: path style (endpoint/bucket, MinIO, most S3-compatible stores) or virtual-host style
    #: (bucket.endpoint, AWS's default)
    path_style: bool = True
    verify_tls: bool = True
    ca_file: Path | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, endpoint: str) -> str:
        if not re.match(r"^https?://[^/@\s]+$", endpoint.rstrip("/")):
            raise ValueError("expected an http(s)://host[:port] URL without credentials or path")
        return endpoint.rstrip("/")

    @property
    def url(self) -> str:
        if self.path_style:
            return f"{self.endpoint}/{self.bucket}"
        scheme, host = self.endpoint.split("://", 1)
        return f"{scheme}://{self.bucket}.{host}"


class IncidentTriage(Frozen):
    """Thresholds of the incident controls (INC-xx); the CAP and HLT controls keep their own."""

    #: INC-01: error lines (policy.logs.error_levels) allowed in the incident window, and how
    #: many of the newest the evidence and the message show
    max_error_lines: Annotated[int, Field(ge=0)] = 0
    error_lines_shown: Annotated[int, Field(ge=1, le=50)] = 5
    #: INC-02: connections the application's pools may open in total (DB_POOL_SIZE +
    #: DB_MAX_OVERFLOW per process, times processes); null: the control skips naming this key
    pool_size: Annotated[int, Field(ge=1)] | None = None
    #: the roles whose sessions are the application's (pg_stat_activity.usename)
    pool_roles: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["lms"])
    pool_levels: RatioLevels = RatioLevels(warning=0.8, critical=0.95)
    #: INC-03: a query may wait on a lock at most this long
    max_lock_wait: Duration = timedelta(seconds=30)
    redis_keys: RedisKeys = RedisKeys()
    #: INC-05: absent when the LMS stores files locally (FILE_STORAGE_PROVIDER=local)
    object_storage: ObjectStorage | None = None
