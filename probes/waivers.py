"""Waivers: which one is in force for a control today, and which are expiring or expired."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.governance import Waiver
from lms_opscheck.probes.thresholds import Level, TwoLevel


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
        return f"waiver of {w.control} ({w.ticket}, approved by {w.approver}) {when}: {w.reason}"


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
        f"waiver of {waiver.control} ({waiver.ticket}, approved by {waiver.approver}) expires "
        f"{waiver.expires.isoformat()}, {length.days}d after {today.isoformat()}; the maximum "
        f"waiver length is {format_duration(max_length)}"
    )


def waiver_in_force(waivers: Iterable[Waiver], control: str, today: date) -> Waiver | None:
    """The waiver in force for ``control`` today (the one lasting longest), if any."""
    candidates = [w for w in waivers if w.control == control and w.in_force(today)]
    return max(candidates, key=lambda w: w.expires, default=None)
