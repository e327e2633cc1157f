"""The environment model: what to check, where, against which policy, owned by whom."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lms_opscheck.config.capacity import CapacityPolicy, Volume
from lms_opscheck.config.compliance import Compliance, Function
from lms_opscheck.config.deploy import DeployGate
from lms_opscheck.config.durations import Duration, format_duration
from lms_opscheck.config.governance import Attestation, Waiver
from lms_opscheck.config.hosts import Fleet, HostExpectations
from lms_opscheck.config.incident import IncidentTriage
from lms_opscheck.config.locations import TimeZone, ToolPath, check_stamp_pattern
from lms_opscheck.config.logs import LogLocation, LogPolicy
from lms_opscheck.config.monitoring import GrafanaTarget, PrometheusTarget, SentryTarget, Slo
from lms_opscheck.config.performance import K6Summaries
from lms_opscheck.config.search import ENV_NAME
from lms_opscheck.config.security import SecretsAge, SecurityPolicy, SecurityScans, TlsTargets


def _whole_number(value: object) -> object:
    """YAML gives ints; ``${VAR}`` gives digit strings. Not ``true`` (1), not ``5432.9``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("expected a whole number")
    if isinstance(value, str) and not re.fullmatch(r"\s*[0-9]{1,18}\s*", value):
        raise ValueError("expected a whole number")
    return value


def _number(value: object) -> object:
    """A fraction such as ``0.05`` (or an int, or a ``${VAR}`` string); never ``true``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError("expected a number such as 0.05")
    if isinstance(value, str) and not re.fullmatch(r"\s*[0-9]{1,18}(\.[0-9]{1,18})?\s*", value):
        raise ValueError("expected a number such as 0.05")
    return value


#: Counts and ports: whole numbers only (pydantic's lax mode would take ``true`` as 1).
Count = Annotated[int, BeforeValidator(_whole_number)]
Number = Annotated[float, BeforeValidator(_number)]
Port = Annotated[Count, Field(ge=1, le=65535)]
#: testinfra's backends (testinfra.backend.BACKENDS); ``local`` alone is the local machine.
HOST_SCHEMES = (
    "local",
    "ssh",
    "safe-ssh",
    "paramiko",
    "salt",
    "docker",
    "podman",
    "ansible",
    "kubectl",
    "winrm",
    "lxc",
    "openshift",
    "chroot",
)
_NAME_RULE = "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
_HOST_URI = re.compile(rf"local|(?:{'|'.join(map(re.escape, HOST_SCHEMES))})://\S*")
_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@\s]*@", re.I)
#: A ":" anywhere before an "@": a password, even one holding "/", "#" or "?" (which end the
#: authority for a URL parser, so the prefix of the password would be printed as a host).
_PASSWORD_IN_URI = re.compile(r"^[a-z][a-z0-9+.-]*://[^@\s]*:[^@\s]*@", re.I)
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

    #: Upper bounds: beyond them a value is a typo (``100d``) and overflows client settings
    #: (PostgreSQL's statement_timeout is an int of milliseconds: at most 24.8 days).
    MAXIMA: ClassVar[dict[str, timedelta]] = {
        "connect": timedelta(minutes=5),
        "request": timedelta(hours=1),
        "deadline": timedelta(hours=6),
    }
    #: Below a millisecond, statement_timeout rounds to 0, which PostgreSQL reads as "none".
    MINIMUM: ClassVar[timedelta] = timedelta(milliseconds=1)

    @field_validator("connect", "request", "deadline")
    @classmethod
    def _sane(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        maximum = cls.MAXIMA[str(info.field_name)]
        if value < cls.MINIMUM:
            raise ValueError("a timeout must be at least 1ms (0 would mean no timeout)")
        if value > maximum:
            raise ValueError(f"a timeout of more than {format_duration(maximum)} is not bounded")
        if info.field_name == "deadline" and value < info.data.get("connect", value):
            raise ValueError("shorter than the connect timeout: no measurement could connect")
        return value


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value or len(value) > 200:
        raise ValueError("expected one line of at most 200 characters")
    return value


#: Printed as a label or in a header: one line.
OneLine = Annotated[str, AfterValidator(_one_line)]


class Ownership(Frozen):
    """Who answers for this environment: Allure's owner label, alert routing, runbook links."""

    team: Annotated[str, Field(min_length=1), AfterValidator(_one_line)] = "unassigned"
    contact: OneLine | None = None
    runbook_url: str | None = None
    #: who can perform each function of the operation (runbook 10.2); absent: not declared
    functions: dict[str, Function] | None = None
    min_owners: Annotated[int, Field(ge=1)] = 2

    @field_validator("runbook_url")
    @classmethod
    def _link(cls, url: str | None) -> str | None:
        if url is not None and not re.fullmatch(r"https?://[^/@\s]+(/\S{0,500})?", url):
            raise ValueError("expected an http(s) URL without credentials (it is printed)")
        return url


class Host(Frozen):
    """A machine reached through testinfra: ``local://``, ``ssh://user@db-1:22``, ``docker://db``."""

    uri: str
    identity_file: Path | None = None
    ssh_config: Path | None = None
    #: What this host must show (HST-01..06); absent: its host checks are "not configured".
    expect: HostExpectations | None = None

    @field_validator("uri")
    @classmethod
    def _no_password(cls, uri: str) -> str:
        if not _HOST_URI.fullmatch(uri):
            raise ValueError(
                "expected a testinfra host URI such as ssh://user@db-1:22 or docker://db "
                f"(schemes: {', '.join(HOST_SCHEMES)})"
            )
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
    db: Annotated[Count, Field(ge=0)] = 0
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
    min_workers: Annotated[Count, Field(ge=1)] = 1
    #: Count only workers whose name starts with this; unset counts every worker that answers
    #: (the LMS starts its workers without -n, so they are named ``celery@<host>``).
    worker_prefix: str | None = None


class Targets(Frozen):
    api: ApiTarget | None = None
    postgres: PostgresTarget | None = None
    redis: RedisTarget | None = None
    celery: CeleryTarget | None = None
    prometheus: PrometheusTarget | None = None
    sentry: SentryTarget | None = None
    grafana: GrafanaTarget | None = None
    volumes: list[Volume] = Field(default_factory=list)
    tls: TlsTargets | None = None


class StampedLocation(Frozen):
    """A folder of files whose names carry the local time they were written at."""

    host: str = "local"
    dir: str
    pattern: str
    #: IANA zone the names (and a transcript's times) are written in: the writing host's zone.
    timezone: TimeZone = "UTC"

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, pattern: str) -> str:
        return check_stamp_pattern(pattern)


class BackupLocation(StampedLocation):
    pattern: str = r"lms_(?P<stamp>\d{8}_\d{6})\.dump"
    #: Zone pg_dump ran in (its archive header holds local wall-clock time). The LMS runs
    #: pg_dump inside the database container, which runs in UTC, whatever the host's zone.
    archive_timezone: TimeZone = "UTC"
    #: Database the dumps must be of; default: targets.postgres.dbname, else ``lms``.
    dbname: str | None = None
    encrypted: bool = False
    expected_tables: list[str] = Field(default_factory=lambda: list(LMS_KEY_TABLES))
    #: pg_restore on the backup host, at least as new as the pg_dump that wrote the dumps.
    pg_restore: ToolPath = "pg_restore"


class DrillLogLocation(StampedLocation):
    pattern: str = r"restore_drill_(?P<stamp>\d{8}_\d{6})\.log"


class RestoreDrill(Frozen):
    """Where the active drill (``-m drill``) restores into: never the production database."""

    server: PostgresTarget
    allow_production_server: bool = False
    log_dir: str | None = None
    expected_revision: str | None = None
    #: How far the live database may have shrunk below the dump (rows deleted since) before
    #: DRL-14 reports the drift; also the share of rows a restore may lack (in-flight rows).
    row_count_tolerance: Annotated[Number, Field(ge=0, le=1)] = 0.05
    #: For key tables without a timestamp column: how much the live count may exceed the
    #: restored one (rows added since the dump) before DRL-10 suspects missing rows.
    growth_allowance: Annotated[Number, Field(ge=0)] = 0.10
    #: Column that dates a row's creation, looked up in every key table (None: never used).
    timestamp_column: str | None = "created_at"
    #: Per-table columns where the name differs (``enrollments: enrolled_at``).
    timestamp_columns: dict[str, str] = Field(default_factory=dict)
    #: Rows created this close to the dump's newest row are left out of the comparison: a
    #: transaction still open when pg_dump took its snapshot commits them later.
    timestamp_margin: Duration = timedelta(minutes=10)
    #: Folder of the client tools (pg_restore) matching the backups' major version; PATH if unset.
    bin_dir: ToolPath | None = None
    #: Tables that must hold rows after the restore (and are compared with the source).
    key_tables: list[str] = Field(default_factory=lambda: list(LMS_KEY_TABLES))

    def column_for(self, table: str) -> str | None:
        return self.timestamp_columns.get(table, self.timestamp_column)


class Artifacts(Frozen):
    backups: BackupLocation | None = None
    drill_logs: DrillLogLocation | None = None
    app_logs: LogLocation | None = None
    access_logs: LogLocation | None = None
    k6: K6Summaries | None = None
    security_scans: SecurityScans | None = None


class Policy(Frozen):
    """Thresholds, with the LMS's documented defaults (lms-target.md)."""

    api_latency: Duration = timedelta(milliseconds=800)
    rpo: Duration = timedelta(hours=24)
    rto: Duration = timedelta(minutes=60)
    backup_retention: Duration = timedelta(days=30)
    backup_retention_grace: Duration = timedelta(days=2)
    backup_min_bytes: Annotated[Count, Field(ge=0)] = 1024
    backup_min_ratio: Annotated[Number, Field(ge=0, le=1)] = 0.5
    backup_size_window: Annotated[Count, Field(ge=1)] = 7
    backup_daily_window: Annotated[Count, Field(ge=1)] = 7
    backup_clock_tolerance: Duration = timedelta(hours=1)
    drill_interval: Duration = timedelta(days=7)
    drill_grace: Duration = timedelta(days=1)
    drill_min_tables: Annotated[Count, Field(ge=1)] = 8
    drill_log_retention: Duration = timedelta(days=90)
    logs: LogPolicy = LogPolicy()
    slo: Slo = Slo()
    capacity: CapacityPolicy = CapacityPolicy()
    security: SecurityPolicy = SecurityPolicy()


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
    fleet: Fleet = Fleet()
    targets: Targets = Targets()
    artifacts: Artifacts = Artifacts()
    restore_drill: RestoreDrill | None = None
    policy: Policy = Policy()
    compliance: Compliance | None = None
    secrets_age: SecretsAge | None = None
    #: incident triage (pytest -m incident): thresholds and the object storage, all defaulted
    incident: IncidentTriage = IncidentTriage()
    #: The post-deploy gate (config/deploy.py): version, Alembic head, smoke login, error rate.
    deploy: DeployGate | None = None
    #: Named secrets (API token, Vault token) for checks that need them; never shown in outputs.
    credentials: dict[str, Secret] = Field(default_factory=dict)
    waivers: list[Waiver] = Field(default_factory=list)
    attestations: list[Attestation] = Field(default_factory=list)
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        # It becomes a folder (out/NAME/): "/abs", "../.." or 300 characters must not get there.
        if not ENV_NAME.fullmatch(name):
            raise ValueError(f"expected {_NAME_RULE} (it names the run folder)")
        return name

    @field_validator("hosts", "credentials")
    @classmethod
    def _names(cls, named: dict[str, object], info: ValidationInfo) -> dict[str, object]:
        # Printed in test ids, evidence and error messages.
        if any(not ENV_NAME.fullmatch(key) for key in named):
            raise ValueError(f"every name under {info.field_name}: must be {_NAME_RULE}")
        return named

    @model_validator(mode="after")
    def _consistent(self) -> Environment:
        for key, location in (
            ("artifacts.backups.host", self.artifacts.backups),
            ("artifacts.drill_logs.host", self.artifacts.drill_logs),
            ("artifacts.app_logs.host", self.artifacts.app_logs),
            ("artifacts.access_logs.host", self.artifacts.access_logs),
            *((f"targets.volumes.{v.name}.host", v) for v in self.targets.volumes),
        ):
            if (
                location is not None
                and location.host != "local"
                and location.host not in self.hosts
            ):
                known = ", ".join(["local", *self.hosts])
                raise ValueError(f"{key}: names a host that is not under hosts: ({known})")
        secrets = list(_secret_fields(self, ""))
        for key, secret in secrets:
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"{key}: a secret shorter than {MIN_SECRET_LENGTH} characters cannot be "
                    "kept out of outputs"
                )
        for key, text in _plain_fields(self, ""):
            if any(secret in text for _, secret in secrets):
                raise ValueError(
                    f"{key}: holds the value of a secret of this environment, and this key is "
                    "printed: secrets go in secret-typed keys (password, credentials) only"
                )
        return self

    def host(self, name: str) -> Host:
        if name == "local":
            return self.hosts.get("local", Host(uri="local://"))
        return self.hosts[name]

    @property
    def identity(self) -> str:
        """Which LMS this environment verifies, beyond its name: ``name@`` and a hash of the
        database it verifies (else its API replicas, else its backup folder). Two files that
        merely share a name (a copy pointed at a test database) never merge in a report."""
        targets = self.targets
        anchor = (
            targets.postgres.label
            if targets.postgres
            else ",".join(sorted(targets.api.replicas))
            if targets.api
            else (self.artifacts.backups.dir if self.artifacts.backups else "")
        )
        digest = hashlib.sha256(f"{self.name}\0{anchor}".encode()).hexdigest()[:12]
        return f"{self.name}@{digest}"

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


def _plain_fields(value: object, key: str) -> Iterator[tuple[str, str]]:
    """(dotted key, text) of every printed (non-secret) text below ``value``."""
    if isinstance(value, str | Path):
        yield key, str(value)
    elif isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            if not field.exclude:
                yield from _plain_fields(getattr(value, name), f"{key}.{name}".lstrip("."))
    elif isinstance(value, dict):
        for name, item in value.items():
            yield f"{key}.{name}", str(name)
            yield from _plain_fields(item, f"{key}.{name}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _plain_fields(item, f"{key}.{index}")
