"""The post-deploy gate's section (``deploy:``): expected version, Alembic head, smoke login,
error rate against the baseline.

Every subsection is optional: an absent one makes its checks skip naming the key (an error when
the environment is strict). The expected version may also come from the command line
(``--expect-version``) or the ``LMS_EXPECTED_VERSION`` variable, which CI sets per deploy.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from lms_opscheck.config.durations import Duration
from lms_opscheck.config.levels import Frozen, Ratio

_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")
_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_ALEMBIC_REVISION = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _path(value: str) -> str:
    if not value.startswith("/") or any(c.isspace() for c in value) or "?" in value:
        raise ValueError("expected a path such as /api/v1/version (no query string)")
    return value


class VersionSource(Frozen):
    """Where each replica tells its version.

    ``endpoint``: GET ``path``, the JSON value at dotted ``key`` (``version``, ``build.version``);
    ``header``: the ``header`` of the answer to GET ``path``; ``metrics``: the ``label`` of the
    ``metric`` series on the replica's metrics path (``app_info{version="..."} 1``).
    """

    kind: Literal["endpoint", "header", "metrics"] = "endpoint"
    path: str = "/api/v1/version"
    key: str = "version"
    header: str = "X-App-Version"
    metric: str = "app_info"
    label: str = "version"

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _path(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _KEY.match(value):
            raise ValueError("expected a dotted JSON key such as build.version")
        return value

    @field_validator("header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _HEADER.match(value):
            raise ValueError("expected an HTTP header name such as X-App-Version")
        return value

    @field_validator("metric", "label")
    @classmethod
    def _metric(cls, value: str) -> str:
        if not _METRIC.match(value):
            raise ValueError("expected a Prometheus metric or label name")
        return value

    def describe(self) -> str:
        if self.kind == "endpoint":
            return f"GET {self.path} JSON key {self.key}"
        if self.kind == "header":
            return f"header {self.header} of GET {self.path}"
        return f'{self.metric}{{{self.label}="..."}} in /metrics'


class VersionGate(Frozen):
    #: The release CI deployed; ``--expect-version`` and ``$LMS_EXPECTED_VERSION`` override it.
    expected: str | None = None
    source: VersionSource = VersionSource()

    @field_validator("expected")
    @classmethod
    def _expected(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class AlembicGate(Frozen):
    """The expected head: given (``head``) or computed from the revision files (``migrations``)."""

    head: str | None = None
    #: ``migrations/versions`` of the release being deployed (read, never imported).
    migrations: Path | None = None
    table: str = "alembic_version"

    @field_validator("head")
    @classmethod
    def _head(cls, value: str | None) -> str | None:
        if value is not None and not _ALEMBIC_REVISION.match(value):
            raise ValueError("expected an Alembic revision id such as 0013_add_columns")
        return value

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?", value):
            raise ValueError("expected a table name such as alembic_version or schema.table")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> AlembicGate:
        if (self.head is None) == (self.migrations is None):
            raise ValueError("give exactly one of head (a revision id) or migrations (a folder)")
        return self


class SmokeGate(Frozen):
    """The synthetic account's flows. ``login`` is opt-in: a login writes a login event.

    The login budget (docs in README "Post-deploy gate"): at most ``max_logins`` attempts per
    ``window`` and ``max_failures`` failed attempts per ``failure_window``, across runs, counted
    in ``ledger``; and never more than one login per run.
    """

    account: str = Field(min_length=3, max_length=254)
    #: Name of the entry under ``credentials:`` holding the account's password.
    password_credential: str = "smoke_password"
    login: bool = False
    login_path: str = "/api/v1/auth/login"
    me_path: str = "/api/v1/auth/me"
    max_logins: Annotated[int, Field(ge=1, le=4)] = 2
    window: Duration = timedelta(minutes=1)
    max_failures: Annotated[int, Field(ge=1, le=4)] = 2
    failure_window: Duration = timedelta(minutes=15)
    #: Where login attempts are remembered (JSON lines: time, replica, outcome; no secret).
    #: Default: ``login-ledger.jsonl`` in the folder that holds the run folders.
    ledger: Path | None = None

    @field_validator("login_path", "me_path")
    @classmethod
    def _paths(cls, value: str) -> str:
        return _path(value)


class ErrorRateGate(Frozen):
    """5xx share since the deploy against the same share over ``baseline`` before it."""

    baseline: Duration = timedelta(hours=1)
    #: How much above the baseline the ratio may be (absolute: 0.005 is half a percent point).
    allowance: Ratio = 0.005
    #: Requests since the deploy below which the ratio says nothing (the check errors).
    min_requests: Annotated[int, Field(ge=1)] = 20


class DeployGate(Frozen):
    version: VersionGate | None = None
    alembic: AlembicGate | None = None
    smoke: SmokeGate | None = None
    error_rate: ErrorRateGate = ErrorRateGate()
