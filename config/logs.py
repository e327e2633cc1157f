"""Log locations (where the LMS writes its logs) and the log-review policy (what is too much).

``artifacts.app_logs`` and ``artifacts.access_logs`` are :class:`LogLocation`; they may name the
same files (the LMS mixes its application lines and uvicorn's access lines in one log), in which
case the files are read once for both. ``policy.logs`` is :class:`LogPolicy`. Every key is
documented in environments/prod.example.yaml; the rules behind the thresholds in docs/logs.md.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lms_opscheck.config.durations import Duration
from lms_opscheck.config.locations import TimeZone

LineFormat = Literal["lms", "uvicorn", "json"]
Cadence = Literal["daily", "weekly", "incident"]
ALL_FORMATS: tuple[LineFormat, ...] = ("lms", "uvicorn", "json")

#: Paths no LMS serves that scanners ask for (matched case-insensitively anywhere in the path).
DEFAULT_SCANNER_PATHS = (
    "/.env",
    "/.git/",
    "/.aws/",
    "/.ssh/",
    "/wp-admin",
    "/wp-login.php",
    "/xmlrpc.php",
    "phpmyadmin",
    "/phpinfo",
    "..%2f",
    "%2e%2e/",
    "/etc/passwd",
    "/cgi-bin/",
    "/actuator",
    "/server-status",
    "/vendor/phpunit",
    "/boaform",
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JsonKeys(_Frozen):
    """Which keys of a JSON log record hold what (the LMS's documented names by default)."""

    timestamp: list[str] = Field(default_factory=lambda: ["timestamp", "time", "@timestamp"])
    level: list[str] = Field(default_factory=lambda: ["level", "levelname", "severity"])
    message: list[str] = Field(default_factory=lambda: ["message", "msg", "event"])
    logger: list[str] = Field(default_factory=lambda: ["logger", "name"])
    client: list[str] = Field(default_factory=lambda: ["client_ip", "client", "remote_addr"])
    status: list[str] = Field(default_factory=lambda: ["http_status", "status_code", "status"])
    method: list[str] = Field(default_factory=lambda: ["method", "http_method"])
    path: list[str] = Field(default_factory=lambda: ["path", "url", "route"])


class LogLocation(_Frozen):
    """Log files on a host: ``dir`` + the live file name ``pattern``, with its rotations."""

    host: str = "local"
    dir: str
    #: Shell-style pattern of the live file name(s): ``app.log``, ``*.log``.
    pattern: str = "app.log"
    #: Also read rotations of those names: ``.1``, ``.2.gz``, ``-20261127``, ``-20261127.gz``.
    rotated: bool = True
    #: Zone of the plain-text ``asctime`` (the app host's local time); JSON times with an offset
    #: carry their own.
    timezone: TimeZone = "UTC"
    #: Line formats the files hold; the reader only looks for these.
    formats: Annotated[list[LineFormat], Field(min_length=1)] = Field(
        default_factory=lambda: list(ALL_FORMATS)
    )
    json_keys: JsonKeys = JsonKeys()

    @field_validator("pattern")
    @classmethod
    def _plain_name_pattern(cls, pattern: str) -> str:
        if not pattern or "/" in pattern or "\0" in pattern:
            raise ValueError("a file-name pattern such as app.log or *.log (no folder part)")
        return pattern

    @field_validator("dir")
    @classmethod
    def _absolute(cls, directory: str) -> str:
        if not directory.startswith("/"):
            raise ValueError("an absolute folder path")
        return directory.rstrip("/") or "/"


class LogPolicy(_Frozen):
    """Windows and thresholds of the log analysis (LOG-xx) and the access-log review (ACC-xx)."""

    #: The window each cadence reviews, ending now.
    daily_window: Duration = timedelta(hours=24)
    weekly_window: Duration = timedelta(days=7)
    incident_window: Duration = timedelta(hours=1)
    #: LOG-01: the newest line may be at most this old (a live LMS logs every request).
    max_silence: Duration = timedelta(hours=1)
    #: LOG-02: levels that count as errors; the busiest hour and the share of all lines.
    error_levels: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: ["ERROR", "CRITICAL"]
    )
    max_errors_per_hour: Annotated[int, Field(ge=0)] = 10
    max_error_ratio: Annotated[float, Field(ge=0, le=1)] = 0.01
    #: The sliding window of every burst below.
    burst_window: Duration = timedelta(seconds=60)
    #: ACC-01: 401/403 answers to one client within burst_window.
    auth_failure_statuses: list[int] = Field(default_factory=lambda: [401, 403])
    max_auth_failures_per_client: Annotated[int, Field(ge=0)] = 20
    #: ACC-02: 429 answers (all clients) within burst_window.
    max_rate_limited: Annotated[int, Field(ge=0)] = 50
    #: ACC-03: a lockout is lockout_failures failed logins (401) from one client within
    #: lockout_period on a login path; at most max_lockouts lockouts in the window.
    login_paths: list[str] = Field(default_factory=lambda: ["/api/v1/auth/login"])
    lockout_failures: Annotated[int, Field(ge=1)] = 5
    lockout_period: Duration = timedelta(seconds=900)
    max_lockouts: Annotated[int, Field(ge=0)] = 5
    #: ACC-04/05: paths no LMS serves; requests per client in the window; served ones (2xx).
    scanner_paths: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_SCANNER_PATHS)
    )
    max_scanner_requests_per_client: Annotated[int, Field(ge=0)] = 10
    #: ACC-06: 5xx answers (all clients) within burst_window.
    max_server_errors: Annotated[int, Field(ge=0)] = 20
    #: How many clients, paths and signatures the evidence lists.
    top: Annotated[int, Field(ge=1, le=50)] = 5

    @field_validator("auth_failure_statuses")
    @classmethod
    def _statuses(cls, statuses: list[int]) -> list[int]:
        if not statuses or any(not 400 <= s <= 599 for s in statuses):
            raise ValueError("HTTP error statuses between 400 and 599")
        return statuses

    @field_validator("scanner_paths")
    @classmethod
    def _scanner_paths(cls, paths: list[str]) -> list[str]:
        if any(len(p.strip()) < 3 or "\n" in p for p in paths):
            raise ValueError("each scanner path needs at least 3 characters on one line")
        return paths

    def window(self, cadence: Cadence) -> timedelta:
        return {
            "daily": self.daily_window,
            "weekly": self.weekly_window,
            "incident": self.incident_window,
        }[cadence]
