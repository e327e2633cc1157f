"""Alert payloads, the Prometheus textfile and Allure metadata, built from results."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from lms_opscheck.reports import alerts, allure_meta, textfile
from lms_opscheck.reports.results import (
    CheckResult,
    ControlInfo,
    EvidenceItem,
    Results,
    RunInfo,
    summarize,
)

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def control(cid: str, severity: str = "critical") -> ControlInfo:
    return ControlInfo(cid, "title", severity, "2.1", "System health", "fix it", "https://rb#21")


def check(cid: str, outcome: str, node: str = "", target: str | None = "dump_1") -> CheckResult:
    evidence = (
        EvidenceItem("latency", "850ms", threshold="<= 800ms"),
        EvidenceItem("tables", "12"),
        EvidenceItem("newest", "lms_1.dump"),
    )
    category = {"failed": "target unhealthy", "error": "could not measure"}.get(outcome)
    nodeid = f"checks/test_x.py::test_{cid}{node}"
    return CheckResult(nodeid, control(cid), outcome, category, "msg", 0.1, "t", target, evidence)


def results(*checks: CheckResult) -> Results:
    run = RunInfo("r1", "prod", "s", "f", "0.1.0", "daily", "h", 1)
    return Results(run, checks, summarize(checks))


def test_failing_checks_fire_and_passing_ones_resolve() -> None:
    built = results(
        check("HLT-01", "failed", "[http://api-1]"),
        check("HLT-03", "error"),
        check("HLT-04", "passed"),
        check("HLT-05", "skipped"),
    )
    payload = alerts.payload(built, NOW)
    by_control = {a["labels"]["control"]: a for a in payload}
    assert set(by_control) == {"HLT-01", "HLT-03", "HLT-04"}
    fired = by_control["HLT-01"]
    assert fired["labels"] == {
        "alertname": "OpsCheckFailing",
        "control": "HLT-01",
        "severity": "critical",
        "env": "prod",
        "target": "http://api-1",
    }
    assert fired["annotations"]["runbook_url"] == "https://rb#21"
    assert "Remediation: fix it" in fired["annotations"]["description"]
    assert fired["endsAt"] > fired["startsAt"]
    assert by_control["HLT-03"]["annotations"]["summary"].endswith("could not measure")
    assert by_control["HLT-04"]["endsAt"] == by_control["HLT-04"]["startsAt"]


def test_alert_identity_does_not_change_with_the_measured_target() -> None:
    today = alerts.payload(results(check("BKP-03", "failed", target="lms_1.dump")), NOW)
    tomorrow = alerts.payload(results(check("BKP-03", "failed", target="lms_2.dump")), NOW)
    assert today[0]["labels"] == tomorrow[0]["labels"]


def test_push_to_a_closed_port_is_reported_not_raised() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = alerts.push(f"http://user:hunter22@127.0.0.1:{port}", [{"labels": {}}], timeout=1)
    assert not result.ok
    assert f"http://127.0.0.1:{port}/api/v2/alerts" in result.detail
    assert "hunter22" not in result.detail


def test_textfile_has_up_values_in_seconds_and_last_run(tmp_path: Path) -> None:
    text = textfile.render(results(check("HLT-01", "failed"), check("HLT-04", "passed")), 1700.0)
    assert 'ops_check_up{control="HLT-01",env="prod",target="",severity="critical"} 0' in text
    assert 'ops_check_up{control="HLT-04",env="prod",target="",severity="critical"} 1' in text
    assert 'name="latency",unit="seconds"} 0.85' in text
    assert 'name="tables",unit=""} 12' in text
    assert "lms_1.dump" not in text  # not a number: no sample
    assert 'ops_check_last_run_timestamp_seconds{env="prod"} 1700.000' in text
    path = tmp_path / "collector" / "opscheck.prom"
    textfile.write_atomic(path, text)
    assert path.read_text() == text
    assert [p.name for p in path.parent.iterdir()] == ["opscheck.prom"]


def test_allure_metadata_and_allurerc(tmp_path: Path) -> None:
    info = {"env": "prod", "run_id": "r1", "selection": "daily or weekly"}
    history = tmp_path / "history.jsonl"
    allure_meta.write_meta(tmp_path, tmp_path / "allure-results", info, "r1", history)
    props = (tmp_path / "allure-results" / "environment.properties").read_text()
    assert "env=prod\n" in props and "run_id=r1\n" in props
    categories = json.loads((tmp_path / "allure-results" / "categories.json").read_text())
    assert [c["name"] for c in categories] == [
        "configuration",
        "could not measure",
        "target unhealthy",
    ]
    rc = json.loads((tmp_path / "allurerc.json").read_text())
    assert rc["historyPath"] == str(history)
    assert rc["plugins"]["awesome"]["options"]["singleFile"] is True
    assert rc["categories"]["rules"] == categories
