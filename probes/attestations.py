"""Attestations of the runbook's manual items: the catalogue, and whether each is current."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.governance import Attestation
from lms_opscheck.probes.thresholds import Level, TwoLevel


@dataclass(frozen=True)
class ManualItem:
    """A runbook item only a person can do; ``cadence`` None: done once (e.g. before launch)."""

    id: str
    runbook: str
    title: str
    cadence: timedelta | None
    launch: bool = False


CATALOGUE: tuple[ManualItem, ...] = (
    ManualItem("uat-signoff", "7.1", "UAT sign-off obtained", None, launch=True),
    ManualItem(
        "legal-review", "7.1", "Legal compliance review completed", timedelta(days=365), True
    ),
    ManualItem(
        "staff-training", "2.3", "Staff trained on operational procedures", timedelta(days=31)
    ),
    ManualItem("on-call-schedule", "7.1", "On-call schedule established", timedelta(days=31)),
    ManualItem("team-debrief", "7.2", "Post-incident team debrief conducted", timedelta(days=92)),
    ManualItem("runbook-review", "9.1", "Quarterly runbook review", timedelta(days=92)),
)
ITEMS = {item.id: item for item in CATALOGUE}


@dataclass(frozen=True)
class AttestationStatus:
    id: str
    title: str
    level: Level  # OK: current; WARNING: due within warn_before; CRITICAL: missing/out of date
    attestation: Attestation | None
    due: date | None  # None: missing, or one-off
    reason: str

    @property
    def state(self) -> str:
        if self.attestation is None:
            return "missing"
        return {Level.OK: "current", Level.WARNING: "due soon", Level.CRITICAL: "out of date"}[
            self.level
        ]


def attestation_ids(attestations: Iterable[Attestation]) -> list[str]:
    """The catalogue's items first, then any other item an environment attests."""
    extra = sorted({a.id for a in attestations} - ITEMS.keys())
    return [item.id for item in CATALOGUE] + extra


def latest(attestations: Iterable[Attestation], item_id: str) -> Attestation | None:
    found = [a for a in attestations if a.id == item_id]
    return max(found, key=lambda a: a.at, default=None)


def effective_cadence(
    declared: timedelta | None, catalogue: timedelta | None
) -> tuple[timedelta | None, timedelta | None]:
    """The cadence that applies and, when the environment's was longer, that ignored cadence.

    An environment may renew more often than the catalogue says, never less often."""
    if declared is None:
        return catalogue, None
    if catalogue is not None and declared > catalogue:
        return catalogue, declared
    return declared, None


def attestation_status(
    item_id: str, attestations: Iterable[Attestation], today: date
) -> AttestationStatus:
    item = ITEMS.get(item_id)
    title = item.title if item else item_id
    found = latest(attestations, item_id)
    if found is None:
        return AttestationStatus(
            item_id, title, Level.CRITICAL, None, None, f"no attestation of {item_id!r} ({title})"
        )
    who = f"attested by {found.by} on {found.at.isoformat()} ({found.evidence})"
    if found.at > today:
        return AttestationStatus(
            item_id, title, Level.CRITICAL, found, None, f"{who}: dated in the future"
        )
    cadence, capped = effective_cadence(found.cadence, item.cadence if item else None)
    if capped and cadence:
        who += (
            f" (cadence {format_duration(capped)} ignored: longer than the catalogue's "
            f"{format_duration(cadence)})"
        )
    if cadence is None:
        return AttestationStatus(item_id, title, Level.OK, found, None, f"{who}; one-off")
    due = found.at + timedelta(days=cadence.days)
    days_left = (due - today).days
    level = TwoLevel(warning=found.warn_before.days, critical=-1).level(days_left)
    every = format_duration(cadence)
    if level is Level.CRITICAL:
        reason = f"{who} is out of date: due {due.isoformat()} ({-days_left}d ago), every {every}"
    else:
        reason = f"{who}; next due {due.isoformat()} (in {days_left}d), every {every}"
    return AttestationStatus(item_id, title, level, found, due, reason)
