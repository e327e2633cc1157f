"""The results JSON (``opscheck.results/1``): one record per check, built from pytest's phases.

The schema is documented in docs/results-schema.md; bump ``SCHEMA`` on any incompatible change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = "opscheck.results/1"
OUTCOMES = ("passed", "failed", "error", "skipped", "waived")
CATEGORIES = ("target unhealthy", "could not measure", "configuration")
#: user_properties carrying structured data from xdist workers to the controller.


@dataclass(frozen=True)
class ControlInfo:
    id: str
    title: str
    severity: str
    runbook: str
    area: str
    remediation: str
    runbook_url: str | None = None


@dataclass(frozen=True)
class EvidenceItem:
    name: str
    value: str
    unit: str = ""
    threshold: str | None = None
    target: str | None = None
    at: str = ""

    def __str__(self) -> str:
        text = f"{self.name} {self.value}{' ' + self.unit if self.unit else ''}"
        return text + (f" (threshold {self.threshold})" if self.threshold else "")


@dataclass(frozen=True)
class CheckResult:
    nodeid: str
    control: ControlInfo | None
    outcome: str
    category: str | None
    message: str
    duration_s: float
    finished_at: str
    target: str | None = None
    evidence: tuple[EvidenceItem, ...] = ()
    waiver: dict[str, Any] | None = None

    @property
    def subject(self) -> str:
        """The parametrized target (``test_x[<this>]``): stable across runs, unlike ``target``."""
        name = self.nodeid.split("::")[-1]
        return name[name.index("[") + 1 : -1] if name.endswith("]") and "[" in name else ""

    @property
    def alerting(self) -> bool:
        return self.outcome in ("failed", "error")


@dataclass(frozen=True)
class RunInfo:
    id: str
    env: str
    started_at: str
    finished_at: str
    suite_version: str
    selection: str
    host: str
    exit_status: int


@dataclass(frozen=True)
class Summary:
    passed: int = 0
    failed: int = 0
    failed_critical: int = 0
    errors: int = 0
    skipped: int = 0
    waived: int = 0

    def line(self) -> str:
        return (
            f"{self.passed} passed, {self.failed} failed ({self.failed_critical} critical), "
            f"{self.errors} errors, {self.waived} waived, {self.skipped} skipped"
        )


@dataclass(frozen=True)
class Results:
    run: RunInfo
    checks: tuple[CheckResult, ...]
    summary: Summary = field(default_factory=Summary)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    def write(self, path: Path) -> None:
        """Write atomically: a reader never sees half a file."""
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        os.replace(temporary, path)


@dataclass(frozen=True)
class Phase:
    """What the controller knows of one pytest phase (setup, call, teardown) of one check."""

    when: str
    outcome: str  # pytest's: passed | failed | skipped
    message: str
    duration: float
    stop: float
    record: Mapping[str, Any] | None = None
    waiver: Mapping[str, Any] | None = None
    wasxfail: bool = False


def iso(timestamp: float | None = None) -> str:
    moment = datetime.now(UTC) if timestamp is None else datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def combine(nodeid: str, phases: Sequence[Phase]) -> CheckResult:
    """One check's result from its phases, the way pytest counts them (setup failure = error)."""
    outcome, failing = "passed", None
    for phase in phases:
        if phase.outcome == "failed":
            outcome = "failed" if phase.when == "call" else "error"
            failing = phase
            break
        if phase.outcome == "skipped":
            outcome, failing = "skipped", phase
            break
    waiver = next((dict(p.waiver) for p in phases if p.waiver is not None), None)
    if waiver is not None:
        outcome = "waived"
    record = next((p.record for p in reversed(phases) if p.record is not None), None) or {}
    failing_record = (failing.record if failing else None) or {}
    evidence = tuple(EvidenceItem(**e) for e in record.get("evidence", ()))
    control = record.get("control")
    category = failing_record.get("category") if outcome in ("failed", "error", "waived") else None
    message = failing.message if failing else "; ".join(str(e) for e in evidence)
    return CheckResult(
        nodeid=nodeid,
        control=ControlInfo(**control) if control else None,
        outcome=outcome,
        category=category,
        message=message,
        duration_s=round(sum(p.duration for p in phases), 6),
        finished_at=iso(max((p.stop for p in phases), default=None)),
        target=failing_record.get("target") or record.get("target"),
        evidence=evidence,
        waiver=waiver,
    )


def summarize(checks: Iterable[CheckResult]) -> Summary:
    counts = dict.fromkeys(("passed", "failed", "failed_critical", "error", "skipped", "waived"), 0)
    for check in checks:
        counts[check.outcome] += 1
        if check.outcome == "failed" and check.control and check.control.severity == "critical":
            counts["failed_critical"] += 1
    return Summary(
        passed=counts["passed"],
        failed=counts["failed"],
        failed_critical=counts["failed_critical"],
        errors=counts["error"],
        skipped=counts["skipped"],
        waived=counts["waived"],
    )


def read_results(path: Path) -> Results:
    """Read a results JSON back (for reports); refuses a schema it does not know."""
    data = json.loads(path.read_text())
    if data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: schema {data.get('schema')!r}; this reader knows {SCHEMA}")
    checks = tuple(
        CheckResult(
            **{
                **c,
                "control": ControlInfo(**c["control"]) if c.get("control") else None,
                "evidence": tuple(EvidenceItem(**e) for e in c.get("evidence", ())),
            }
        )
        for c in data["checks"]
    )
    return Results(RunInfo(**data["run"]), checks, Summary(**data["summary"]))
