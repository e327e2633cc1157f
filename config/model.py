"""The environment model: what to check, where, against which policy, owned by whom."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from lms_opscheck.config.durations import Duration
from lms_opscheck.config.governance import Attestation, Waiver

Port = Annotated[int, Field(ge=1, le=65535)]
_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*@", re.I)
_PASSWORD_IN_URI = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@:\s]*:[^/@\s]*@", re.I)
_HOST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
_HOST_PORT = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
#: Shorter secrets cannot be masked in outputs without masking ordinary text as well.
MIN_SECRET_LENGTH = 4
Secret = SecretStr

LMS_KEY_TABLES = (
    "alembic_version",
    "users",
    "courses",
    "lessons",
    "enrollments",
    "quizzes",
    "certificates",
    "payments",
)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timeouts(Frozen):
    """Every network call is bounded; a dead dependency costs one ``deadline`` per run."""

    connect: Duration = timedelta(seconds=2)
    request: Duration = timedelta(seconds=3)
    deadline: Duration = timedelta(seconds=6)


class Ownership(Frozen):
    team: str = "unassigned"
    contact: str | None = None
    runbook_url: str | None = None


class Host(Frozen):
    """A machine reached through testinfra: ``local://``, ``ssh://user@db-1:22``, ``docker://db``."""

    uri: str
    identity_file: Path | None = None
    ssh_config: Path | None = None

    @field_validator("uri")
    @classmethod
    def _no_password(cls, uri: str) -> str:
        if _PASSWORD_IN_URI.match(uri) or re.search(r"[?&](password|passwd)=", uri, re.I):
            raise ValueError(
                "the host URI carries a password; host URIs are printed in evidence and "
                "alerts: use identity_file (ssh keys) or ssh_config instead"
            )
        return uri


class ApiTarget(Frozen):
    replicas: Annotated[list[str], Field(min_length=1)]
    health_path: str = "/api/v1/health"
    ready_path: str = "/api/v1/ready"
    metrics_path: str = "/metrics"
    #: Series /metrics must expose (a histogram or counter counts by its family name).
    metrics_series: list[str] = Field(
        default_factory=lambda: [
            "http_requests_total",
            "http_request_duration_seconds",
            "http_requests_in_progress",
        ]
    )
    verify_tls: bool = True
    #: CA bundle that signed the replicas' certificates (an internal CA); system CAs if unset.
    ca_file: Path | None = None
    #: Host header sent to every replica address (the LMS answers 400 "Invalid host header" to
    #: a Host not in its TRUSTED_HOSTS); the URL's host when unset.
    host_header: str | None = None
    #: TLS server name (SNI and the certificate's name); host_header's host when unset.
    tls_server_name: str | None = None

    @field_validator("replicas")
    @classmethod
    def _urls(cls, replicas: list[str]) -> list[str]:
        # Never echo the value: it is interpolated and could hold a credential.
        for index, url in enumerate(replicas):
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"replica {index} is not an http(s) base URL")
            if _USERINFO.match(url):
                raise ValueError(
                    f"replica {index} carries credentials in its URL; URLs are printed "
                    "in test ids and alerts, so health endpoints must not need them"
                )
            if "?" in url or "#" in url:
                raise ValueError(
                    f"replica {index} has a query string or fragment; give the base URL only "
                    "(paths are appended to it, and URLs are printed in test ids and alerts)"
                )
        return [url.rstrip("/") for url in replicas]

    @field_validator("host_header")
    @classmethod
    def _host_header(cls, host: str | None) -> str | None:
        if host is not None and not _HOST_PORT.match(host):
            raise ValueError("not a host name with an optional :port")
        return host

    @field_validator("tls_server_name")
    @classmethod
    def _server_name(cls, name: str | None) -> str | None:
        if name is not None and not _HOST_NAME.match(name):
            raise ValueError("not a DNS host name")
        return name

    @property
    def server_name(self) -> str | None:
        """The TLS server name to present, if it is not the replica URL's own host."""
        if self.tls_server_name:
            return self.tls_server_name
        if self.host_header:
            return self.host_header.rsplit(":", 1)[0] if "]" not in self.host_header else None
        return None


class PostgresTarget(Frozen):
    host: str
    port: Port = 5432
    dbname: str = "lms"
    user: str = "lms"
    password: Secret | None = None
    sslmode: str = "prefer"

    @property
    def label(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"


class RedisTarget(Frozen):
    host: str
    port: Port = 6379
    db: Annotated[int, Field(ge=0)] = 0
    username: str | None = None
    password: Secret | None = None
    tls: bool = False
    #: ``required``: SEC-01 checks that Redis refuses clients without credentials.
    #: ``network-isolated``: the environment declares that only the application's network
    #: reaches Redis (as the LMS's compose files run it, without a password); SEC-01 is then
    #: reported not applicable, with this declaration as the reason.
    auth: Literal["required", "network-isolated"] = "required"

    @property
    def label(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{self.host}:{self.port}/{self.db}"


class CeleryTarget(Frozen):
    broker: RedisTarget
    app: str = "app.tasks.celery_app.celery_app"
    min_workers: Annotated[int, Field(ge=1)] = 1
    #: Count only workers whose name starts with this; unset counts every worker that answers
    #: (the LMS starts its workers without -n, so they are named ``celery@<host>``).
    worker_prefix: str | None = None


class Targets(Frozen):
    api: ApiTarget | None = None
    postgres: PostgresTarget | None = None
    redis: RedisTarget | None = None
    celery: CeleryTarget | None = None


class BackupLocation(Frozen):
    host: str = "local"
    dir: str
    pattern: str = r"lms_(?P<stamp>\d{8}_\d{6})\.dump"
    encrypted: bool = False
    expected_tables: list[str] = Field(default_factory=lambda: list(LMS_KEY_TABLES))
    #: pg_restore on the backup host, at least as new as the pg_dump that wrote the dumps.
    pg_restore: str = "pg_restore"

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, pattern: str) -> str:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if "stamp" not in compiled.groupindex:
            raise ValueError("the pattern needs a (?P<stamp>YYYYMMDD_HHMMSS) group")
        return pattern


class DrillLogLocation(Frozen):
    host: str = "local"
    dir: str
    pattern: str = r"restore_drill_(?P<stamp>\d{8}_\d{6})\.log"


class RestoreDrill(Frozen):
    """Where the active drill (``-m drill``) restores into: never the production database."""

    server: PostgresTarget
    allow_production_server: bool = False
    log_dir: str | None = None
    expected_revision: str | None = None
    row_count_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.05
    #: Folder of the client tools (pg_restore) matching the backups' major version; PATH if unset.
    bin_dir: str | None = None
    #: Tables that must hold rows after the restore (and are compared with the source).
    key_tables: list[str] = Field(default_factory=lambda: list(LMS_KEY_TABLES))


class Artifacts(Frozen):
    backups: BackupLocation | None = None
    drill_logs: DrillLogLocation | None = None


class Policy(Frozen):
    """Thresholds, with the LMS's documented defaults (lms-target.md)."""

    api_latency: Duration = timedelta(milliseconds=800)
    rpo: Duration = timedelta(hours=24)
    rto: Duration = timedelta(minutes=60)
    backup_retention: Duration = timedelta(days=30)
    backup_retention_grace: Duration = timedelta(days=2)
    backup_min_bytes: Annotated[int, Field(ge=0)] = 1024
    backup_min_ratio: Annotated[float, Field(ge=0, le=1)] = 0.5
    backup_size_window: Annotated[int, Field(ge=1)] = 7
    backup_daily_window: Annotated[int, Field(ge=1)] = 7
    backup_clock_tolerance: Duration = timedelta(hours=1)
    drill_interval: Duration = timedelta(days=7)
    drill_grace: Duration = timedelta(days=1)
    drill_min_tables: Annotated[int, Field(ge=1)] = 8
    drill_log_retention: Duration = timedelta(days=90)


class Environment(Frozen):
    name: str
    description: str = ""
    #: "sandbox": the suite boots the embedded stack before loading this file.
    embedded: Literal["sandbox"] | None = None
    production: bool = False
    strict: bool = False
    timeouts: Timeouts = Timeouts()
    ownership: Ownership = Ownership()
    hosts: dict[str, Host] = Field(default_factory=dict)
    targets: Targets = Targets()
    artifacts: Artifacts = Artifacts()
    restore_drill: RestoreDrill | None = None
    policy: Policy = Policy()
    #: Named secrets (API token, Vault token) for checks that need them; never shown in outputs.
    credentials: dict[str, Secret] = Field(default_factory=dict)
    waivers: list[Waiver] = Field(default_factory=list)
    attestations: list[Attestation] = Field(default_factory=list)
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Environment:
        for key, location in (
            ("artifacts.backups.host", self.artifacts.backups),
            ("artifacts.drill_logs.host", self.artifacts.drill_logs),
        ):
            if (
                location is not None
                and location.host != "local"
                and location.host not in self.hosts
            ):
                known = ", ".join(["local", *self.hosts])
                raise ValueError(f"{key}: host {location.host!r} is not under hosts: ({known})")
        for key, secret in _secret_fields(self, ""):
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"{key}: a secret shorter than {MIN_SECRET_LENGTH} characters cannot be "
                    "kept out of outputs"
                )
        return self

    def host(self, name: str) -> Host:
        if name == "local":
            return self.hosts.get("local", Host(uri="local://"))
        return self.hosts[name]

    def secrets(self) -> Iterator[str]:
        """Every secret value in this environment, so outputs can be scrubbed of them."""
        for _, secret in _secret_fields(self, ""):
            yield secret


def _secret_fields(value: object, key: str) -> Iterator[tuple[str, str]]:
    """(dotted key, plain value) of every non-empty secret below ``value``."""
    if isinstance(value, SecretStr):
        if plain := value.get_secret_value():
            yield key, plain
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_fields(getattr(value, name), f"{key}.{name}".lstrip("."))
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _secret_fields(item, f"{key}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _secret_fields(item, f"{key}.{index}")
