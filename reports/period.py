"""What a period of runs shows, per control: evidence, failures and whether they were resolved.

A control is *expected* in a period when one of its cadences is periodic (daily, weekly,
monthly); event-driven cadences (post_deploy, incident, launch) and the opt-in active drill are
shown when they ran, never required. A period without evidence is never "compliant".
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lms_opscheck.record import CheckRecord, Control
from lms_opscheck.reports.runs import Run

#: How far back a result counts as evidence for a control of this cadence.
LOOKBACK = {"daily": timedelta(days=7), "weekly": timedelta(days=7), "monthly": timedelta(days=31)}
DAILY_DAYS = 7
#: Worst first. An environment or area takes the worst status of its expected controls.
STATUS_ORDER = (
    "not compliant",
    "attention",
    "no evidence",
    "incomplete evidence",
    "compliant with exceptions",
    "compliant",
)


@dataclass(frozen=True)
class Incident:
    """A stretch of failed or unmeasurable results of one check (control + target)."""

    key: str
    control: Control
    outcome: str  # "failed" or "error" (the first result of the stretch)
    message: str
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None  # the first passing (or waived) result after it


@dataclass(frozen=True)
class ControlPeriod:
    control: Control
    expected: bool
    #: passed | failing | unmeasurable | waived | resolved | gaps | no evidence | not applicable
    status: str
    results: int  # measured results in the lookback
    days_with_evidence: int
    latest: list[CheckRecord]  # the newest measured result of each target
    incidents: list[Incident] = field(default_factory=list)
    reason: str = ""  # why there is no evidence (skip reason), or why not applicable

    @property
    def failing_at_end(self) -> bool:
        return self.status in ("failing", "unmeasurable")


def expected(control: Control) -> bool:
    return any(c in LOOKBACK for c in control.cadences)


def lookback(control: Control) -> timedelta:
    periods = [LOOKBACK[c] for c in control.cadences if c in LOOKBACK]
    return min(periods) if periods else LOOKBACK["weekly"]


Timeline = list[tuple[datetime, CheckRecord]]


def timelines(runs: Iterable[Run]) -> dict[str, Timeline]:
    """Each control's results over the runs, oldest first: built once, sliced per period."""
    found: dict[str, Timeline] = {}
    for run in sorted(runs, key=lambda r: r.started_at):
        moment = run.started_at
        for check in run.checks:
            found.setdefault(check.control.id, []).append((moment, check))
    return found


def analyse(control: Control, results: Timeline, end: datetime) -> ControlPeriod:
    """The control's results (oldest first) within its lookback before ``end``."""
    start = end - lookback(control)
    first = bisect.bisect_right(results, start, key=lambda pair: pair[0])
    last = bisect.bisect_right(results, end, key=lambda pair: pair[0])
    timeline = results[first:last]
    measured = [(t, c) for t, c in timeline if c.outcome != "skipped"]
    if not measured:
        skips = [c.message for _, c in timeline]
        applicable = not skips or not all(m.startswith("not applicable") for m in skips)
        status = "no evidence" if applicable else "not applicable"
        reason = skips[-1] if skips else "not run in the period"
        return ControlPeriod(control, expected(control), status, 0, 0, [], [], reason)
    incidents = list(_incidents(measured))
    latest = list({c.key: c for _, c in measured}.values())
    days = len({t.date() for t, _ in measured if t > end - timedelta(days=DAILY_DAYS)})
    status = _status(control, latest, incidents, days)
    return ControlPeriod(control, expected(control), status, len(measured), days, latest, incidents)


def _status(
    control: Control, latest: list[CheckRecord], incidents: list[Incident], days: int
) -> str:
    if any(c.outcome == "failed" for c in latest):
        return "failing"
    if any(c.outcome == "error" for c in latest):
        return "unmeasurable"
    if any(c.outcome == "waived" for c in latest):
        return "waived"
    if "daily" in control.cadences and days < DAILY_DAYS:
        return "gaps"
    return "resolved" if incidents else "passed"


def _incidents(measured: Iterable[tuple[datetime, CheckRecord]]) -> Iterable[Incident]:
    open_: dict[str, tuple[datetime, datetime, CheckRecord]] = {}
    for moment, check in measured:
        if check.alerting:
            first, _, record = open_.get(check.key, (moment, moment, check))
            open_[check.key] = (first, moment, record)
        elif check.key in open_:
            first, last, record = open_.pop(check.key)
            yield _incident(record, first, last, moment)
    for first, last, record in open_.values():
        yield _incident(record, first, last, None)


def _incident(
    record: CheckRecord, first: datetime, last: datetime, resolved: datetime | None
) -> Incident:
    return Incident(
        record.key, record.control, record.outcome, record.message, first, last, resolved
    )


def environment_status(controls: Iterable[ControlPeriod]) -> str:
    """The status of a set of controls (an area, an environment) over the period."""
    rows = list(controls)
    wanted = [r for r in rows if r.expected]
    if any(r.failing_at_end and r.control.severity == "critical" for r in rows):
        return "not compliant"
    if any(r.failing_at_end for r in rows):
        return "attention"
    evidenced = [r for r in wanted if r.status not in ("no evidence", "not applicable")]
    applicable = [r for r in wanted if r.status != "not applicable"]
    if (applicable and not evidenced) or not rows or not any(r.results for r in rows):
        return "no evidence"
    if any(r.status in ("no evidence", "gaps") for r in applicable):
        return "incomplete evidence"
    if any(r.incidents for r in rows):
        return "compliant with exceptions"
    return "compliant"


def worst(statuses: Iterable[str]) -> str:
    ranked = [STATUS_ORDER.index(s) for s in statuses]
    return STATUS_ORDER[min(ranked)] if ranked else "no evidence"
