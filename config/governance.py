"""Governance in an environment: waivers of failing controls and attestations of manual items."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator

from lms_opscheck.config.durations import Duration, parse_duration

_RELATIVE = re.compile(r"^\s*(?:(?P<ago>\d+\s*[a-z]+)\s+ago|in\s+(?P<ahead>\d+\s*[a-z]+))\s*$")
_CONTROL_ID = r"^[A-Z]{2,5}-\d{2,3}$"
#: A vulnerability id (CVE-2024-23342, GHSA-..., PYSEC-2024-1) or a bandit
#: ``test_id:path:line`` (B602:app/utils.py:41).
_FINDING = re.compile(r"^(?:[A-Z][A-Z0-9]*-[A-Za-z0-9][A-Za-z0-9._-]*|B\d{3}:[^:\s]+:\d+)$")


def parse_day(value: Any, *, today: date | None = None) -> date:
    """A calendar day: ``2026-11-20``, ``today``, ``3d ago`` or ``in 60d`` (relative: sandbox)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("expected a date such as 2026-11-20, today, 3d ago or in 60d")
    today = today or datetime.now(UTC).date()
    text = value.strip()
    if text == "today":
        return today
    if match := _RELATIVE.match(text):
        if match["ago"]:
            return today - timedelta(days=parse_duration(match["ago"]).days)
        return today + timedelta(days=parse_duration(match["ahead"]).days)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected a date such as 2026-11-20, today, 3d ago or in 60d") from None


Day = Annotated[
    date, BeforeValidator(parse_day), PlainSerializer(lambda d: d.isoformat(), return_type=str)
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Waiver(_Frozen):
    """A failing control accepted as *waived* until ``expires`` (the whole day), then failing."""

    control: Annotated[str, Field(pattern=_CONTROL_ID)]
    reason: Annotated[str, Field(min_length=1)]
    ticket: Annotated[str, Field(min_length=1)]
    approver: Annotated[str, Field(min_length=1)]
    expires: Day
    #: how long before ``expires`` the governance check starts warning.
    warn_before: Duration = timedelta(days=7)
    #: one finding of the control (a vulnerability id, or bandit ``test_id:path:line``): the
    #: check accepts that finding only; the control itself is never waived by it.
    finding: str | None = None

    @field_validator("finding")
    @classmethod
    def _finding(cls, finding: str | None) -> str | None:
        if finding is not None and not _FINDING.match(finding):
            raise ValueError(
                "expected a vulnerability id (CVE-2024-23342, GHSA-..., PYSEC-...) or a bandit "
                "finding test_id:path:line (B602:app/utils.py:41)"
            )
        return finding

    @field_validator("control")
    @classmethod
    def _not_governance(cls, control: str) -> str:
        if control.startswith("GOV-"):
            raise ValueError(
                f"{control} cannot be waived: GOV-* controls check the waivers and attestations "
                "themselves"
            )
        return control

    def in_force(self, today: date) -> bool:
        return today <= self.expires

    @property
    def subject(self) -> str:
        """What it waives: ``SEC-04`` or ``SEC-04 finding CVE-2024-23342``."""
        return f"{self.control} finding {self.finding}" if self.finding else self.control

    def describe(self) -> str:
        return (
            f"waiver of {self.subject} ({self.ticket}, approved by {self.approver}) "
            f"expires {self.expires.isoformat()}"
        )


class GovernancePolicy(_Frozen):
    """Limits on governance itself, the same for every environment (an audit requirement)."""

    #: A waiver may expire at most this long after the day it is judged on (GOV-01).
    max_waiver_length: Duration = timedelta(days=90)


GOVERNANCE_POLICY = GovernancePolicy()


class Attestation(_Frozen):
    """A person's statement that a manual runbook item was done, with a link to the evidence."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    by: Annotated[str, Field(min_length=1)]
    at: Day
    evidence: Annotated[str, Field(pattern=r"^(https?|file)://\S+$")]
    #: how often it must be renewed; absent: the catalogue's cadence (or once, for one-off items).
    #: It can only shorten the catalogue's cadence: the shorter of the two applies.
    cadence: Duration | None = None
    warn_before: Duration = timedelta(days=7)
    note: str = ""
