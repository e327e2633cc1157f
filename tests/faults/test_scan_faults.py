"""The scan checks fail on real bandit reports and pip-audit's documented JSON for the faults
they exist for; per-finding waivers accept one finding and hide no other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.runner import SuiteRun, run_suite, write_env

CHECKS = "checks/test_security.py"
GOVERNANCE = "checks/test_governance.py"
RISKY = """import subprocess


def run(command: str) -> int:
    return subprocess.call(command, shell=True)
"""
SAFE = "def add(a: int, b: int) -> int:\n    return a + b\n"
# pip-audit's documented -f json format (its services are not reachable from these machines).
ECDSA = {
    "id": "GHSA-wj6h-64fc-37mp",
    "fix_versions": [],
    "aliases": ["CVE-2024-23342"],
    "description": "Minerva timing attack on P-256",
}
JINJA = {
    "id": "GHSA-h5c8-rqwp-cp95",
    "fix_versions": ["3.1.3"],
    "aliases": ["CVE-2024-22195"],
    "description": "xmlattr filter allows keys with spaces",
}


def bandit(source: Path, reports: Path, *, days_old: float = 0) -> Path:
    """A real bandit JSON report of ``source`` (run from its parent), dated ``days_old`` ago."""
    reports.mkdir(parents=True, exist_ok=True)
    out = reports / f"bandit_{len(list(reports.glob('bandit_*')))}.json"
    subprocess.run(
        [sys.executable, "-m", "bandit", "-r", source.name, "-f", "json", "-o", str(out), "-q"],
        cwd=source.parent,
        capture_output=True,
        check=False,
        timeout=120,
    )
    if days_old:  # a report produced days ago carries that day in generated_at
        data = json.loads(out.read_text())
        moment = time.gmtime(time.time() - days_old * 86400)
        data["generated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", moment)
        out.write_text(json.dumps(data))
    return out


def source_tree(root: Path, code: str) -> Path:
    app = root / "app"
    app.mkdir(parents=True, exist_ok=True)
    (app / "utils.py").write_text(code)
    return app


def audit(reports: Path, deps: list[dict[str, Any]], *, days_old: float = 0) -> Path:
    reports.mkdir(parents=True, exist_ok=True)
    out = reports / "pip_audit_1.json"
    out.write_text(json.dumps({"dependencies": deps, "fixes": []}))
    if days_old:
        stamp = time.time() - days_old * 86400
        os.utime(out, (stamp, stamp))
    return out


def weekly(tmp_path: Path, reports: Path, *args: str, **extra: Any) -> SuiteRun:
    scans = {
        "bandit": {"dir": str(reports), "pattern": r"bandit_\d+\.json"},
        "pip_audit": {"dir": str(reports), "pattern": r"pip_audit_\d+\.json"},
    }
    config = {"name": "selftest", "artifacts": {"security_scans": scans}, **extra}
    tmp_path.mkdir(parents=True, exist_ok=True)
    env_file = write_env(tmp_path / "env.yaml", config)
    files = [CHECKS, GOVERNANCE] if "waivers" in extra else [CHECKS]
    return run_suite("-m", "weekly", f"--env={env_file}", *files, *args, out=tmp_path / "out")


def waiver(control: str, finding: str, expires: str = "in 30d") -> dict[str, str]:
    return {
        "control": control,
        "finding": finding,
        "reason": "no fix released",
        "ticket": "SEC-77",
        "approver": "security lead",
        "expires": expires,
    }


def test_fresh_clean_reports_pass(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    bandit(source_tree(tmp_path, SAFE), reports)
    audit(reports, [{"name": "jinja2", "version": "3.1.4", "vulns": []}])
    suite = weekly(tmp_path, reports, "-k", "scan or bandit or pip_audit")
    assert {c.outcome for c in suite.results.checks} == {"passed"}, suite.output
    assert suite.exit_code == 0


def test_stale_reports_fail_naming_their_age_and_the_interval(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    bandit(source_tree(tmp_path, SAFE), reports, days_old=10)
    audit(reports, [{"name": "jinja2", "version": "3.1.4", "vulns": []}], days_old=9)
    suite = weekly(tmp_path, reports, "-k", "younger_than_the_review")
    stale_bandit = suite.only("test_newest_scan_report_is_younger_than_the_review_interval[bandit")
    assert stale_bandit.outcome == "failed"
    assert "bandit report bandit_0.json (" in stale_bandit.message
    assert "is 10d old; the review interval is 7d" in stale_bandit.message
    stale_audit = suite.only("test_newest_scan_report_is_younger_than_the_review_interval[pip")
    assert stale_audit.outcome == "failed" and "is 9d old; the review interval is 7d" in (
        stale_audit.message
    )


def test_no_report_at_all_fails_every_scan_check(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "notes.txt").write_text("not a report")
    suite = weekly(tmp_path, reports, "-k", "scan or bandit or pip_audit")
    assert {c.outcome for c in suite.results.checks} == {"failed"}
    check = suite.only("test_bandit_reports_no_finding")
    assert f"no bandit report matching 'bandit_\\\\d+\\\\.json' in {reports}" in check.message


def test_a_high_bandit_finding_fails_naming_test_file_and_line(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    bandit(source_tree(tmp_path, RISKY), reports)
    suite = weekly(tmp_path, reports, "-k", "bandit_reports")
    check = suite.only("test_bandit_reports_no_finding")
    assert check.outcome == "failed"
    assert "1 bandit finding(s) at or above HIGH severity and MEDIUM confidence" in check.message
    assert "B602:app/utils.py:5 (HIGH/HIGH: subprocess call with shell=True" in check.message
    assert "B404" not in check.message.split("measured:")[0]  # LOW: below the policy level
    lowered = weekly(
        tmp_path / "low",
        reports,
        "-k",
        "bandit_reports",
        policy={"security": {"bandit_severity": "LOW"}},
    )
    assert "2 bandit finding(s) at or above LOW severity" in lowered.only("test_bandit").message


def test_a_waived_bandit_finding_is_listed_and_passes(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    bandit(source_tree(tmp_path, RISKY), reports)
    suite = weekly(
        tmp_path, reports, "-k", "bandit_reports", waivers=[waiver("SEC-03", "B602:app/utils.py:5")]
    )
    record = next(c for c in suite.results.checks if c.control.id == "SEC-03")
    assert record.outcome == "passed", suite.output
    waived = next(e for e in record.evidence if e.name == "waived")
    assert "B602:app/utils.py:5 by SEC-77 until " in waived.value
    moved = weekly(
        tmp_path / "moved",
        reports,
        "-k",
        "bandit_reports",
        waivers=[waiver("SEC-03", "B602:app/utils.py:4")],  # another line: waives nothing here
    )
    assert moved.only("test_bandit_reports").outcome == "failed"


def test_a_known_vulnerability_fails_naming_id_package_and_fix(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    audit(reports, [{"name": "jinja2", "version": "3.1.2", "vulns": [JINJA]}])
    suite = weekly(tmp_path, reports, "-k", "pip_audit")
    check = suite.only("test_pip_audit_reports")
    assert check.outcome == "failed"
    assert (
        "1 known vulnerability in pip_audit_1.json" in check.message
        and "GHSA-h5c8-rqwp-cp95 (CVE-2024-22195) in jinja2 3.1.2, fixed in: 3.1.3" in check.message
    )


def test_a_waived_cve_hides_no_other_and_never_waives_the_control(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    deps = [
        {"name": "ecdsa", "version": "0.19.1", "vulns": [ECDSA]},
        {"name": "jinja2", "version": "3.1.2", "vulns": [JINJA]},
    ]
    audit(reports, deps)
    waivers = [waiver("SEC-04", "CVE-2024-23342")]  # the LMS's policy-ignored CVE, by alias
    suite = weekly(tmp_path, reports, "-k", "pip_audit or waiver", waivers=waivers)
    record = next(c for c in suite.results.checks if c.control.id == "SEC-04")
    assert record.outcome == "failed" and record.waiver is None
    assert "1 known vulnerability" in record.message and "GHSA-h5c8-rqwp-cp95" in record.message
    assert "GHSA-wj6h-64fc-37mp" not in record.message.split(" (1 more waived)")[0]
    assert "(1 more waived)" in record.message
    waived = next(e for e in record.evidence if e.name == "waived")
    assert "GHSA-wj6h-64fc-37mp by SEC-77 until" in waived.value
    governance = {c.control.id: c.outcome for c in suite.results.checks}
    assert governance["GOV-01"] == "passed" and governance["GOV-03"] == "passed"
    both = weekly(
        tmp_path / "both",
        reports,
        "-k",
        "pip_audit",
        waivers=[*waivers, waiver("SEC-04", "GHSA-h5c8-rqwp-cp95")],
    )
    assert both.only("test_pip_audit_reports").outcome == "passed"
    assert both.exit_code == 0


def test_an_expired_or_overlong_finding_waiver_does_not_apply_and_says_why(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "reports"
    audit(reports, [{"name": "ecdsa", "version": "0.19.1", "vulns": [ECDSA]}])
    expired = weekly(
        tmp_path / "e",
        reports,
        "-k",
        "pip_audit",
        waivers=[waiver("SEC-04", "CVE-2024-23342", "3d ago")],
    )
    check = expired.only("test_pip_audit_reports")
    assert check.outcome == "failed"
    assert (
        "waiver of SEC-04 finding CVE-2024-23342 (SEC-77, approved by security lead) expired"
        in (check.message)
    )
    overlong = weekly(
        tmp_path / "o",
        reports,
        "-k",
        "pip_audit or waiver",
        waivers=[waiver("SEC-04", "CVE-2024-23342", "in 200d")],
    )
    assert "the maximum waiver length is 90d" in overlong.only("test_pip_audit_reports").message
    assert overlong.only("test_no_waiver_has_expired").outcome == "failed"


def test_a_report_that_audited_nothing_does_not_pass(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    skipped = "Dependency not found on PyPI and could not be audited: requests (2.0.0)"
    audit(reports, [{"name": "requests", "skip_reason": skipped}])
    suite = weekly(tmp_path, reports, "-k", "pip_audit")
    check = suite.only("test_pip_audit_reports")
    assert check.outcome == "failed"
    assert "audited 0 dependencies (1 skipped" in check.message and "examined nothing" in (
        check.message
    )


def test_a_finding_waiver_of_a_control_without_findings_fails_gov_03(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    suite = weekly(tmp_path, reports, "-k", "waiver", waivers=[waiver("HLT-01", "CVE-2024-23342")])
    check = suite.only("test_every_waiver_names_a_declared_control")
    assert check.outcome == "failed"
    assert "HLT-01 finding CVE-2024-23342" in check.message


def test_opt_in_bandit_run_keeps_its_report_in_the_run_folder(tmp_path: Path) -> None:
    source = source_tree(tmp_path / "src", RISKY)
    run = {"sources": [source.name], "cwd": str(source.parent), "timeout": "2m"}
    config = {"name": "selftest", "artifacts": {"security_scans": {"run_bandit": run}}}
    env_file = write_env(tmp_path / "env.yaml", config)
    suite = run_suite(
        "-m", "weekly", f"--env={env_file}", CHECKS, "-k", "bandit", out=tmp_path / "out"
    )
    reports = list((tmp_path / "out" / "security-scans").glob("bandit_*.json"))
    assert len(reports) == 1, suite.output
    check = suite.only("test_bandit_reports_no_finding")
    assert check.outcome == "failed" and "B602:app/utils.py:5" in check.message
    assert suite.only(
        "test_newest_scan_report_is_younger_than_the_review_interval[bandit]"
    ).outcome == ("passed")
