"""Waivers: which one is in force for a control today, and which are expiring or expired.

A waiver that names a ``finding`` accepts that one finding of its control (the check reads it
through ``finding_waivers``); it never waives the control as a whole (``waiver_in_force``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.governance import Waiver
from lms_opscheck.probes.thresholds import Level, TwoLevel

#: Controls whose checks read per-finding waivers (GOV-03 fails on a finding waiver elsewhere).
FINDING_CONTROLS = frozenset({"SEC-03", "SEC-04"})


@dataclass(frozen=True)
class WaiverStatus:
    waiver: Waiver
    level: Level  # OK: in force; WARNING: expiring within warn_before; CRITICAL: expired
    days_left: int  # negative once expired

    @property
    def state(self) -> str:
        return {Level.OK: "in force", Level.WARNING: "expiring", Level.CRITICAL: "expired"}[
            self.level
        ]

    def __str__(self) -> str:
        w = self.waiver
        when = (
            f"expired {w.expires.isoformat()} ({-self.days_left}d ago)"
            if self.level is Level.CRITICAL
            else f"expires {w.expires.isoformat()} (in {self.days_left}d)"
        )
        return f"waiver of {w.subject} ({w.ticket}, approved by {w.approver}) {when}: {w.reason}"


def waiver_status(waiver: Waiver, today: date) -> WaiverStatus:
    # Expiry is inclusive: a waiver expiring today is still in force, with 0 days left.
    days_left = (waiver.expires - today).days
    bounds = TwoLevel(warning=waiver.warn_before.days, critical=-1)
    return WaiverStatus(waiver, bounds.level(days_left), days_left)


def overlong(waiver: Waiver, today: date, max_length: timedelta) -> str | None:
    """Why ``waiver`` lasts longer than policy allows from ``today``; None when it does not."""
    length = waiver.expires - today
    if length <= max_length:
        return None
    return (
        f"waiver of {waiver.subject} ({waiver.ticket}, approved by {waiver.approver}) expires "
        f"{waiver.expires.isoformat()}, {length.days}d after {today.isoformat()}; the maximum "
        f"waiver length is {format_duration(max_length)}"
    )


def waiver_in_force(waivers: Iterable[Waiver], control: str, today: date) -> Waiver | None:
    """The whole-control waiver in force for ``control`` today (the one lasting longest), if any.

    Waivers of one finding are not whole-control waivers: they are never returned here.
    """
    candidates = [
        w for w in waivers if w.control == control and w.finding is None and w.in_force(today)
    ]
    return max(candidates, key=lambda w: w.expires, default=None)


@dataclass(frozen=True)
class FindingWaivers:
    """The per-finding waivers of one control, judged on one day."""

    usable: dict[str, Waiver]  # finding -> the waiver in force lasting longest
    refused: dict[str, str]  # finding -> why its waiver does not apply (expired, too long)

    def waiver_for(self, keys: Iterable[str]) -> Waiver | None:
        """The waiver of a finding known by any of ``keys`` (its id and aliases)."""
        return next((self.usable[k] for k in keys if k in self.usable), None)


def finding_waivers(
    waivers: Iterable[Waiver], control: str, today: date, max_length: timedelta
) -> FindingWaivers:
    """Per-finding waivers of ``control``: in force and within the maximum length, else why not."""
    usable: dict[str, Waiver] = {}
    refused: dict[str, str] = {}
    for waiver in waivers:
        if waiver.control != control or waiver.finding is None:
            continue
        if not waiver.in_force(today):
            refused.setdefault(waiver.finding, str(waiver_status(waiver, today)))
            continue
        too_long = overlong(waiver, today, max_length)
        if too_long is not None:
            refused.setdefault(waiver.finding, too_long)
            continue
        known = usable.get(waiver.finding)
        if known is None or waiver.expires > known.expires:
            usable[waiver.finding] = waiver
    for finding in usable:
        refused.pop(finding, None)
    return FindingWaivers(usable, refused)
