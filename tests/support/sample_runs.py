"""Hand-written run folders following the results.json contract (opscheck.results/1)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

OUTCOMES = ("passed", "failed", "error", "skipped", "waived")

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


def check(cid: str, outcome: str, **extra: Any) -> dict[str, Any]:
    area = {"HLT": "System health", "BKP": "Backups"}.get(cid[:3], "Governance")
    return {
        "nodeid": f"checks/test_x.py::test_{cid.lower().replace('-', '_')}",
        "control": {
            "id": cid,
            "title": f"{cid} title",
            "severity": extra.pop("severity", "high"),
            "runbook": "2.1 Backup Verification",
            "area": area,
            "remediation": f"fix {cid} like this",
            "runbook_url": None,
        },
        "outcome": outcome,
        "category": None,
        "message": extra.pop("message", ""),
        "duration_s": 0.1,
        "finished_at": "2026-11-28T01:59:00Z",
        "target": None,
        "evidence": [
            {
                "name": "age",
                "value": "31h12m",
                "unit": "",
                "threshold": "<= 24h",
                "target": "backups/db",
                "at": "2026-11-28T01:59:00Z",
            }
        ],
        "waiver": extra.pop("waiver", None),
    }


def write_run(
    root: Path,
    name: str,
    started: datetime,
    checks: list[dict[str, Any]],
    governance: dict[str, Any] | None = None,
    env: str = "prod",
) -> Path:
    path = root / env / name
    path.mkdir(parents=True)
    summary = {k: sum(c["outcome"] == k for c in checks) for k in OUTCOMES}
    (path / "results.json").write_text(
        json.dumps(
            {
                "schema": "opscheck.results/1",
                "run": {
                    "id": name,
                    "env": env,
                    "started_at": started.isoformat(),
                    "finished_at": started.isoformat(),
                    "suite_version": "0.1.0",
                    "selection": "weekly",
                    "host": "ci",
                    "exit_status": 0,
                },
                "checks": checks,
                "summary": summary,
            }
        )
    )
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
