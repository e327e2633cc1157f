"""Many environments: one scheduled job each, run folders shipped to shared storage as
ROOT/<env>/<run>, and the weekly report merging them (`lms-opscheck-report --all ROOT`)."""

from __future__ import annotations

import re
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lms_opscheck.record import CheckRecord
from tests.deploy.conftest import run
from tests.support.sample_runs import check, write_run


def report_command() -> str:
    beside = Path(sys.executable).parent / "lms-opscheck-report"
    found = str(beside) if beside.exists() else shutil.which("lms-opscheck-report")
    if found is None:
        pytest.skip("lms-opscheck-report is not installed (pip install -e .)")
    return found


def daily_runs(
    runner: Path, env: str, identity: str, at: timedelta, last: list[CheckRecord]
) -> None:
    """What one environment's scheduled job leaves on its runner: out/<env>/<stamp>/ for each of
    the last 7 days (``at`` before now), every day healthy but the newest, which holds ``last``."""
    now = datetime.now(UTC)
    healthy = [check("BKP-01", "passed", severity="critical"), check("HLT-01", "passed")]
    for day in range(6, -1, -1):
        started = now - timedelta(days=day) - at
        stamp = started.strftime("%Y%m%dT%H%M%S.000Z")
        checks = last if day == 0 else healthy
        write_run(
            runner / "out", stamp, started, checks, env=env, identity=identity, selection="daily"
        )


def ship(runner: Path, root: Path) -> None:
    """What `rsync -a out/ ROOT/` does after each run: ROOT/<env>/<run>/."""
    shutil.copytree(runner / "out", root, dirs_exist_ok=True)


def sections(markdown: str) -> dict[str, tuple[str, str]]:
    """identity -> (environment name, status) from the report's Markdown."""
    found = re.findall(r"^## (\S+): ([A-Z ]+)\n\nIdentity `([^`]+)`", markdown, flags=re.M)
    return {identity: (name, status) for name, status, identity in found}


def test_the_weekly_report_merges_every_environment_with_its_own_status(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    # four jobs on four runners, ten minutes apart; two of them verify different databases under
    # the same name (their run folders differ by their start time: see deploy/README.md)
    runners = {name: tmp_path / name for name in ("runner-a", "runner-b", "runner-c", "runner-d")}
    stale = "backup lms_x.dump is 31h12m old; RPO is 24h"
    refused = "https://tenant-a/api/v1/health: cannot connect"
    severity = {"BKP-01": "critical", "HLT-01": "high"}
    jobs = [  # runner, env, identity, minutes before now, the newest run's finding
        ("runner-a", "prod", "prod@aaaaaaaaaaaa", 50, ("BKP-01", "failed", stale)),
        ("runner-b", "staging", "staging@bbbbbbbbbbbb", 40, None),
        ("runner-c", "tenant-a", "tenant-a@cccccccccccc", 30, ("HLT-01", "error", refused)),
        ("runner-d", "prod", "prod@dddddddddddd", 20, None),
    ]
    for runner, env, identity, minutes, finding in jobs:
        control, outcome, message = finding or ("BKP-01", "passed", "")
        other = "HLT-01" if control == "BKP-01" else "BKP-01"
        last = [
            check(control, outcome, severity=severity[control], message=message),
            check(other, "passed", severity=severity[other]),
        ]
        daily_runs(runners[runner], env, identity, timedelta(minutes=minutes), last)
    for runner in runners.values():
        ship(runner, root)
    assert sorted(p.name for p in root.iterdir()) == ["prod", "staging", "tenant-a"]

    out = tmp_path / "report"
    result = run(report_command(), "--all", str(root), "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    markdown = (out / "compliance.md").read_text()
    assert (out / "compliance.html").is_file()
    assert sections(markdown) == {
        "prod@aaaaaaaaaaaa": ("prod", "NOT COMPLIANT"),  # a critical control failing
        "staging@bbbbbbbbbbbb": ("staging", "COMPLIANT"),
        "tenant-a@cccccccccccc": ("tenant-a", "ATTENTION"),  # a high control unmeasurable
        # the same name on another database is its own environment, never merged into prod
        "prod@dddddddddddd": ("prod", "COMPLIANT"),
    }
    assert markdown.startswith("# Compliance report: NOT COMPLIANT")
    prod = markdown.split("Identity `prod@aaaaaaaaaaaa`")[1].split("\n## ")[0]
    assert "31h12m old; RPO is 24h" in prod
    others = markdown.replace(prod, "")
    assert "31h12m old" not in others


def test_an_empty_shared_root_is_one_line_and_no_report(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    result = run(report_command(), "--all", str(tmp_path / "shared"), "-o", str(tmp_path / "r"))
    assert result.returncode != 0
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r" / "compliance.md").exists()
