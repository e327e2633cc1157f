"""Security configuration: scan reports, TLS endpoints and files, header policy, secret age.

Wired into the environment model as ``artifacts.security_scans``, ``targets.tls``,
``policy.security`` and ``secrets_age``; every key is documented in
environments/prod.example.yaml.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from lms_opscheck.config.durations import Duration

BanditLevel = Literal["LOW", "MEDIUM", "HIGH"]
TlsVersion = Literal["TLSv1.2", "TLSv1.3"]
#: The headers the LMS sends on every answer (lms-target.md) and what their value must match.
DEFAULT_HEADERS: dict[str, str | None] = {
    "X-Content-Type-Options": r"(?i)^nosniff$",
    "X-Frame-Options": r"(?i)^(DENY|SAMEORIGIN)$",
    "Referrer-Policy": None,
    "Content-Security-Policy": None,
}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return pattern


class ReportLocation(_Frozen):
    """Where a scanner's JSON reports land: the newest file whose name matches is read."""

    host: str = "local"
    dir: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, pattern: str) -> str:
        return _regex(pattern)


class BanditRun(_Frozen):
    """Opt-in: the suite runs ``bandit -r SOURCES -f json`` itself (locally, bounded)."""

    sources: Annotated[list[str], Field(min_length=1)]
    #: bandit's -x: folders left out (the LMS excludes its tests).
    exclude: list[str] = Field(default_factory=lambda: ["tests"])
    #: where bandit runs; report paths are relative to it, as waivers name them.
    cwd: Path | None = None
    command: str = "bandit"
    timeout: Duration = timedelta(minutes=5)


class PipAuditRun(_Frozen):
    """Opt-in: the suite runs ``pip-audit -r REQUIREMENTS -f json`` itself (locally, bounded)."""

    requirements: Path
    #: extra arguments, e.g. [--no-deps, --disable-pip] for a fully pinned lock file.
    args: list[str] = Field(default_factory=list)
    command: str = "pip-audit"
    timeout: Duration = timedelta(minutes=5)


class SecurityScans(_Frozen):
    bandit: ReportLocation | None = None
    pip_audit: ReportLocation | None = None
    run_bandit: BanditRun | None = None
    run_pip_audit: PipAuditRun | None = None


class TlsEndpoint(_Frozen):
    """An HTTPS endpoint beyond the API replicas: the load balancer, a proxy, another host."""

    url: str
    #: the name the certificate must carry (SNI and Host) when ``url`` uses an address.
    server_name: str | None = None
    #: it serves the LMS API: its answers are checked for security headers too.
    headers: bool = True
    path: str = "/api/v1/health"

    @field_validator("url")
    @classmethod
    def _https(cls, url: str) -> str:
        if not re.match(r"^https://[^/@\s]+$", url.rstrip("/")):
            raise ValueError("expected an https://host[:port] URL without credentials or path")
        return url.rstrip("/")


class CertificateFile(_Frozen):
    """A PEM certificate on disk (the reverse proxy's), local or on a host from ``hosts:``."""

    host: str = "local"
    path: str


class TlsTargets(_Frozen):
    #: CA bundle (PEM, on this machine) that chains must verify against; the system store if unset.
    ca_file: Path | None = None
    #: the name on the replicas' certificate, when replicas are addressed by IP or internal name.
    server_name: str | None = None
    #: measure every API replica whose URL is https (false: only ``endpoints``).
    replicas: bool = True
    endpoints: list[TlsEndpoint] = Field(default_factory=list)
    files: list[CertificateFile] = Field(default_factory=list)


class SecurityPolicy(_Frozen):
    """Security thresholds; defaults from the LMS (lms-target.md) and the runbook."""

    scan_max_age: Duration = timedelta(days=7)
    #: bandit findings at or above both levels fail (the LMS runs ``bandit -lll -ii``).
    bandit_severity: BanditLevel = "HIGH"
    bandit_confidence: BanditLevel = "MEDIUM"
    #: like ``pip-audit --strict`` (the LMS's flag): a dependency it could not audit fails SEC-04.
    pip_audit_strict: bool = True
    tls_warning: Duration = timedelta(days=21)
    tls_critical: Duration = timedelta(days=7)
    tls_min_version: TlsVersion = "TLSv1.2"
    hsts_min_max_age: Duration = timedelta(seconds=31536000)
    #: header name -> regular expression its value must match (null: present, any value).
    headers: dict[str, str | None] = Field(default_factory=lambda: dict(DEFAULT_HEADERS))
    #: paths that must answer 404/401/403 in production (FastAPI's docs).
    closed_paths: list[str] = Field(default_factory=lambda: ["/docs", "/openapi.json"])
    secret_max_age: Duration = timedelta(days=90)
    secret_warn_before: Duration = timedelta(days=14)

    @model_validator(mode="after")
    def _ordered(self) -> SecurityPolicy:
        if self.tls_critical > self.tls_warning:
            raise ValueError("policy.security: tls_critical is longer than tls_warning")
        if self.secret_warn_before >= self.secret_max_age:
            raise ValueError("policy.security: secret_warn_before is not shorter than max age")
        for name, pattern in self.headers.items():
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"policy.security.headers.{name}: {exc}") from None
        return self


class VaultSource(_Frozen):
    """Vault KV v2: only ``metadata`` is read (never a secret's data)."""

    url: str
    token: SecretStr
    mount: str = "secret"
    #: folder of the secrets below the mount: secret/metadata/lms/SECRET_KEY
    path: str = "lms"
    namespace: str | None = None
    #: CA bundle for Vault's certificate; the system store if unset.
    ca_file: Path | None = None


class RotationLedger(_Frozen):
    """A file of rotations (YAML ``rotations: [{secret, rotated_at, by}]`` or CSV with those
    columns), on this machine or a host from ``hosts:``. The newest entry per secret counts."""

    host: str = "local"
    path: str


class SecretsAge(_Frozen):
    """Which secrets must be rotated, and where their rotation time is read."""

    secrets: Annotated[list[str], Field(min_length=1)]
    vault: VaultSource | None = None
    ledger: RotationLedger | None = None
    #: per-secret maximum age, overriding policy.security.secret_max_age
    max_age: dict[str, Duration] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> SecretsAge:
        if (self.vault is None) == (self.ledger is None):
            raise ValueError("secrets_age: declare exactly one of vault or ledger")
        unknown = sorted(set(self.max_age) - set(self.secrets))
        if unknown:
            raise ValueError(f"secrets_age.max_age names unlisted secrets: {', '.join(unknown)}")
        return self
