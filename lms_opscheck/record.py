"""The results record: one typed record per check, the only source of every output.

``CheckRecord`` is produced once per check (``fixtures/verdict.py``), crosses xdist as JSON, and
is what the terminal summary, JUnit, Allure metadata, results.json, alerts, the textfile and the
compliance report are written from. ``Results`` is one run: its ``RunInfo``, its records, the
catalogue of controls the run collected and the summary. Schema: docs/results-schema.md.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lms_opscheck import atomic
from lms_opscheck.config.durations import format_duration

SCHEMA = "opscheck.results/2"
Outcome = Literal["passed", "failed", "error", "skipped", "waived"]
Category = Literal[
    "target unhealthy", "could not measure", "configuration", "not applicable", "suite error"
]
Severity = Literal["critical", "high", "medium", "low"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "error", "skipped", "waived")
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")
#: Evidence lists longer than this are cut, with a count of what was left out.
EVIDENCE_LIST_LIMIT = 10


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Control(_Record):
    """A control of the catalogue, as declared once by ``@pytest.mark.control``."""

    id: str
    title: str
    severity: Severity
    runbook: str  # "2.1 Backup Verification"
    area: str  # "Backups"
    remediation: str = ""
    cadences: tuple[str, ...] = ()

    @property
    def section(self) -> str:
        return self.runbook.split()[0] if self.runbook else ""

    def runbook_link(self, base: str | None) -> str | None:
        if not base:
            return None
        return f"{base}#{self.section.replace('.', '')}" if self.section else base


class Evidence(_Record):
    """One measured value: shown as ``value``; ``number`` in ``unit`` (a base unit) if numeric."""

    name: str
    value: str
    number: float | None = None
    unit: str = ""  # "seconds", "bytes", "" (a count or a ratio)
    threshold: str | None = None
    target: str | None = None
    at: str = ""

    def __str__(self) -> str:
        text = f"{self.name} {self.value}"
        return text + (f" (threshold {self.threshold})" if self.threshold else "")


class Waiver(_Record):
    control: str
    reason: str
    ticket: str
    approver: str
    expires: str  # ISO day, inclusive


class CheckRecord(_Record):
    """What one check found: outcome, why, on what, with which evidence."""

    nodeid: str
    control: Control
    subject: str = ""  # the parametrized target (``test_x[<subject>]``), stable across runs
    outcome: Outcome
    category: Category | None = None
    message: str = ""  # one line: the verdict, or the skip reason
    target: str | None = None  # the most specific thing measured (may change between runs)
    runbook_url: str | None = None
    evidence: tuple[Evidence, ...] = ()
    waiver: Waiver | None = None
    #: why a waiver in force was NOT applied (e.g. longer than the maximum waiver length)
    waiver_refused: str | None = None
    started_at: str = ""
    duration_s: float = 0.0
    #: the traceback of a suite error (a bug in the suite, not a verdict); "" otherwise
    detail: str = ""
    #: why a measurement could not be taken: unreachable, no answer, rejected, unreadable
    cause: str | None = None

    @property
    def key(self) -> str:
        """Stable identity across runs and install locations: ``HLT-01[https://api-1]``."""
        return f"{self.control.id}[{self.subject}]" if self.subject else self.control.id

    @property
    def alerting(self) -> bool:
        return self.outcome in ("failed", "error")

    @property
    def verdict(self) -> str:
        """What kind of result this is: the category (with its cause), else the outcome."""
        if self.cause:
            return f"{self.category} ({self.cause})"
        return self.category or self.outcome

    def headline(self) -> str:
        """The one line every reader shows first: control, severity, verdict, message, runbook."""
        where = f" on {self.subject}" if self.subject and self.subject not in self.message else ""
        text = f"{self.control.id} [{self.control.severity}] {self.verdict}{where}: {self.message}"
        return text + (f" | runbook: {self.runbook_url}" if self.runbook_url else "")

    def body(self) -> str:
        """The headline, then the evidence and the remediation, a line each (no traceback)."""
        lines = [self.headline()]
        if self.waiver is not None:
            w = self.waiver
            lines.append(
                f"waived by {w.ticket} (approved by {w.approver}) until {w.expires}: {w.reason}"
            )
        if self.waiver_refused:
            lines.append(self.waiver_refused)
        if self.target and self.target != self.subject:
            lines.append(f"target: {self.target}")
        lines += [f"measured: {describe(e)}" for e in self.evidence]
        if self.control.remediation and self.alerting:
            lines.append(f"remediation: {self.control.remediation}")
        if self.detail:
            lines.append(self.detail)
        return "\n".join(lines)


def describe(entry: Evidence) -> str:
    text = f"{entry.name} = {entry.value}"
    if entry.threshold:
        text += f" (threshold {entry.threshold})"
    return text + (f" on {entry.target}" if entry.target else "")


class RunInfo(_Record):
    id: str
    env: str
    #: which environment this is beyond its name (docs/results-schema.md): reports merge on it
    env_identity: str
    started_at: str
    finished_at: str
    suite_version: str
    selection: str  # the -m expression
    keywords: str = ""  # the -k expression
    host: str
    exit_status: int
    interrupted: str | None = None  # why the run stopped early (e.g. "SIGTERM")
    fail_on: Severity = "low"


class SeverityCounts(_Record):
    failed: int = 0
    error: int = 0

    @property
    def alerting(self) -> int:
        return self.failed + self.error


class Summary(_Record):
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    waived: int = 0
    #: failed (measured, out of policy) and unmeasured (error) checks per severity
    by_severity: dict[Severity, SeverityCounts] = {}

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped + self.waived

    def alerting(self, severity: Severity) -> int:
        return self.by_severity.get(severity, SeverityCounts()).alerting

    @property
    def worst(self) -> Severity | None:
        """The highest severity with a failed or unmeasured check; None when there is none."""
        return next((s for s in SEVERITIES if self.alerting(s)), None)

    def verdict(self) -> str:
        """``OK``, or the worst severity with what it holds: ``CRITICAL (2 unmeasurable
        critical checks)``."""
        worst = self.worst
        if worst is None:
            return "OK"
        counts = self.by_severity[worst]
        parts = [f"{counts.failed} failing"] if counts.failed else []
        parts += [f"{counts.error} unmeasurable"] if counts.error else []
        plural = "s" * (counts.alerting > 1)
        return f"{worst.upper()} ({' + '.join(parts)} {worst} check{plural})"

    def line(self) -> str:
        return (
            f"{self.passed} passed, {self.failed} failed, {self.errors} errors, "
            f"{self.waived} waived, {self.skipped} skipped"
        )


#: pytest's INTERNAL_ERROR and USAGE_ERROR: what ran says nothing about the target.
_SUITE_STOPPED = (3, 4)


class Results(_Record):
    schema_: str = Field(SCHEMA, alias="schema")
    run: RunInfo
    checks: tuple[CheckRecord, ...]
    #: every control the run collected (whatever -m/-k selected): the report's catalogue
    catalogue: tuple[Control, ...] = ()
    summary: Summary

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def verdict(self) -> str:
        """The summary's verdict, but never ``OK`` for a run that measured nothing: the suite
        stopped (pytest's internal or usage error) or every selected check was skipped."""
        if self.run.exit_status in _SUITE_STOPPED:
            return f"NO VERDICT (the suite stopped: pytest exit {self.run.exit_status})"
        summary = self.summary
        if summary.worst is None and summary.passed + summary.waived == 0:
            return f"NO VERDICT (nothing was measured: {summary.skipped} skipped)"
        return summary.verdict()

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, by_alias=True) + "\n"

    def write(self, path: Path) -> None:
        """Atomically: a reader (a dashboard, the weekly report) never sees half a file."""
        atomic.write_text(path, self.to_json())


class RecordError(ValueError):
    """A results file that is not ours or not well formed; one line naming what is wrong."""


def read_results(path: Path) -> Results:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: cannot read: {exc}") from None
    try:
        results = Results.model_validate_json(text)
    except ValidationError as exc:
        raise _explained(path, text, exc) from None
    if results.schema_ != SCHEMA:
        raise RecordError(f"{path}: schema {results.schema_!r:.40}; this reader knows {SCHEMA}")
    return results


def _explained(path: Path, text: str, exc: ValidationError) -> RecordError:
    """One line: the schema problem first (an older or foreign file), else the first error."""
    try:
        data = json.loads(text)
    except ValueError as bad:
        return RecordError(f"{path}: cannot read: {bad}")
    if not isinstance(data, dict):
        return RecordError(f"{path}: not a JSON object")
    if data.get("schema") != SCHEMA:
        return RecordError(f"{path}: schema {data.get('schema')!r:.40}; this reader knows {SCHEMA}")
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    return RecordError(f"{path}: {where}: {first['msg']}")


def summarize(checks: Iterable[CheckRecord]) -> Summary:
    counts = dict.fromkeys(OUTCOMES, 0)
    severities: dict[Severity, dict[str, int]] = {}
    for check in checks:
        counts[check.outcome] += 1
        if check.alerting:
            per = severities.setdefault(check.control.severity, {"failed": 0, "error": 0})
            per[check.outcome] += 1
    return Summary(
        passed=counts["passed"],
        failed=counts["failed"],
        errors=counts["error"],
        skipped=counts["skipped"],
        waived=counts["waived"],
        by_severity={s: SeverityCounts(**severities[s]) for s in SEVERITIES if s in severities},
    )


def failing_at_or_above(summary: Summary, severity: Severity) -> bool:
    """True when a check of ``severity`` or worse failed or could not be measured."""
    rank = SEVERITIES.index(severity)
    return any(summary.alerting(s) for s in SEVERITIES[: rank + 1])


# -- evidence: raw values in, display text and base-unit numbers out ---------------------------

_UNIT_SCALE = {
    "": ("", 1.0),
    "s": ("seconds", 1.0),
    "seconds": ("seconds", 1.0),
    "ms": ("seconds", 0.001),
    "B": ("bytes", 1.0),
    "bytes": ("bytes", 1.0),
    "KiB": ("bytes", 1024.0),
    "MiB": ("bytes", 1024.0**2),
    "GiB": ("bytes", 1024.0**3),
    "%": ("ratio", 0.01),
    "ratio": ("ratio", 1.0),
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)")
_DURATION = re.compile(r"^-?(?:\d+(?:\.\d+)?(?:ms|w|d|h|m|s))+$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> float | None:
    """Seconds of a displayed duration (``31h12m``, ``30d2h1m``, ``850ms``), else None."""
    compact = text.strip()
    if not _DURATION.match(compact):
        return None
    total = sum(float(n) * _SECONDS[u] for n, u in _DURATION_PART.findall(compact))
    return -total if compact.startswith("-") else total


def make_evidence(
    name: str,
    value: object,
    *,
    unit: str = "",
    threshold: object = None,
    target: str | None = None,
    at: datetime | None = None,
    limit: int = EVIDENCE_LIST_LIMIT,
) -> Evidence:
    """Evidence from a raw value: timedeltas shown as ``31h12m`` and exported in seconds,
    numbers in their unit's base unit, long lists cut to ``limit`` items plus a count."""
    number: float | None = None
    base = unit
    if isinstance(value, timedelta):
        shown, number, base = format_duration(value), value.total_seconds(), "seconds"
    elif isinstance(value, bool):
        shown, number, base = str(value), float(value), ""
    elif isinstance(value, int | float):
        base, scale = _UNIT_SCALE.get(unit, (unit, 1.0))
        number = float(value) * scale if math.isfinite(float(value)) else None
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        shown += f" {unit}" if unit else ""
    elif isinstance(value, list | tuple | set | frozenset):
        items = [str(v) for v in value]
        number, base = float(len(items)), unit
        shown = _capped(items, limit)
    elif isinstance(value, dict):
        pairs = [f"{k}: {v}" for k, v in value.items()]
        shown = "{" + _capped(pairs, limit)[1:-1] + "}" if pairs else "{}"
    else:
        shown = str(value)
        seconds = duration_seconds(shown)
        if seconds is not None:
            number, base = seconds, "seconds"
        else:
            try:
                parsed = float(shown)
            except ValueError:
                parsed = math.nan
            if math.isfinite(parsed):
                base, scale = _UNIT_SCALE.get(unit, (unit, 1.0))
                number = parsed * scale
            if unit:
                shown += f" {unit}"
    if isinstance(threshold, timedelta):
        threshold = format_duration(threshold)
    moment = (at or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    return Evidence(
        name=name,
        value=shown,
        number=number,
        unit=base,
        threshold=None if threshold is None else str(threshold),
        target=target,
        at=moment,
    )


def _capped(items: Sequence[str], limit: int) -> str:
    if len(items) <= limit:
        return "[" + ", ".join(items) + "]"
    return "[" + ", ".join(items[:limit]) + f", … {len(items) - limit} more]"


def iso(moment: datetime | float | None = None) -> str:
    if moment is None:
        moment = datetime.now(UTC)
    elif isinstance(moment, float | int):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = [
    "SCHEMA",
    "CheckRecord",
    "Control",
    "Evidence",
    "RecordError",
    "Results",
    "RunInfo",
    "Summary",
    "Waiver",
    "make_evidence",
    "read_results",
    "summarize",
]
