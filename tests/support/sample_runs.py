"""Run folders for report tests, written with the suite's own writer (record.Results.write)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lms_opscheck.record import (
    CheckRecord,
    Control,
    Results,
    RunInfo,
    Waiver,
    iso,
    make_evidence,
    summarize,
)

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
AREAS = {"HLT": "System health", "BKP": "Backups", "DRL": "Restore drill", "GOV": "Governance"}
CADENCE = {"HLT": ("daily",), "BKP": ("daily",), "DRL": ("weekly",), "GOV": ("weekly",)}


def control(cid: str, severity: str = "high", cadences: tuple[str, ...] | None = None) -> Control:
    return Control(
        id=cid,
        title=f"{cid} title",
        severity=severity,  # type: ignore[arg-type]
        runbook="2.1 Backup Verification",
        area=AREAS.get(cid[:3], "Governance"),
        remediation=f"fix {cid} like this",
        cadences=cadences if cadences is not None else CADENCE.get(cid[:3], ("weekly",)),
    )


def check(
    cid: str,
    outcome: str,
    *,
    severity: str = "high",
    message: str = "",
    subject: str = "",
    waiver: dict[str, str] | None = None,
    cadences: tuple[str, ...] | None = None,
) -> CheckRecord:
    category = {
        "failed": "target unhealthy",
        "error": "could not measure",
        "waived": "target unhealthy",
        "skipped": "not applicable",
    }.get(outcome)
    return CheckRecord(
        nodeid=f"checks/test_x.py::test_{cid.lower().replace('-', '_')}"
        + (f"[{subject}]" if subject else ""),
        control=control(cid, severity, cadences),
        subject=subject,
        outcome=outcome,  # type: ignore[arg-type]
        category=category,  # type: ignore[arg-type]
        message=message,
        evidence=(
            make_evidence("age", timedelta(hours=31, minutes=12), threshold="<= 24h", target="db"),
        ),
        waiver=Waiver(**waiver) if waiver else None,
        started_at="2026-11-28T01:59:00Z",
        duration_s=0.1,
    )


def write_run(
    root: Path,
    name: str,
    started: datetime,
    checks: list[CheckRecord],
    governance: dict[str, Any] | None = None,
    env: str = "prod",
    identity: str | None = None,
    selection: str = "weekly",
) -> Path:
    path = root / env / name
    path.mkdir(parents=True)
    run = RunInfo(
        id=name,
        env=env,
        env_identity=identity or f"{env}@0123456789ab",
        started_at=iso(started),
        finished_at=iso(started + timedelta(seconds=5)),
        suite_version="0.1.0",
        selection=selection,
        host="ci",
        exit_status=0,
    )
    catalogue = tuple({c.control.id: c.control for c in checks}.values())
    results = Results(run=run, checks=tuple(checks), catalogue=catalogue, summary=summarize(checks))
    results.write(path / "results.json")
    if governance is not None:
        (path / "governance.json").write_text(json.dumps(governance))
    return path


GOVERNANCE = {
    "schema": "opscheck.governance/1",
    "env": "prod",
    "day": "2026-11-28",
    "waivers": [
        {
            "control": "BKP-03",
            "reason": "disk swap",
            "ticket": "OPS-7",
            "approver": "lead",
            "expires": "2026-11-20",
            "warn_before": "7d",
            "state": "expired",
            "days_left": -8,
        }
    ],
    "attestations": [
        {
            "id": "uat-signoff",
            "title": "UAT sign-off obtained",
            "state": "current",
            "due": None,
            "reason": "ok",
            "attestation": {
                "id": "uat-signoff",
                "by": "QA lead",
                "at": "2026-10-01",
                "evidence": "https://x.example/uat",
                "cadence": None,
                "warn_before": "7d",
                "note": "",
            },
        }
    ],
}


def sample_history(tmp_path: Path) -> Path:
    """Two earlier weeks, a Monday run and this week's weekly run of environment prod."""
    write_run(tmp_path, "w45", NOW - timedelta(days=21), [check("HLT-01", "failed")])
    write_run(tmp_path, "w46", NOW - timedelta(days=14), [check("HLT-01", "passed")])
    write_run(tmp_path, "mon", NOW - timedelta(days=4), [check("HLT-01", "error")])
    return write_run(
        tmp_path,
        "weekly",
        NOW,
        [
            check("HLT-01", "passed"),
            check(
                "BKP-01",
                "failed",
                severity="critical",
                message="backup lms_20261127_020000.dump is 31h12m old; RPO is 24h",
            ),
            check(
                "BKP-02",
                "waived",
                message="mtime off by 2h",
                waiver={
                    "control": "BKP-02",
                    "reason": "r",
                    "ticket": "OPS-9",
                    "approver": "a",
                    "expires": "2026-12-20",
                },
            ),
        ],
        GOVERNANCE,
    )
