"""The results JSON: phases combine into one outcome per check, and the file reads back."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from lms_opscheck.reports import junit
from lms_opscheck.reports.results import (
    SCHEMA,
    CheckResult,
    ControlInfo,
    EvidenceItem,
    Phase,
    Results,
    RunInfo,
    combine,
    read_results,
    summarize,
)

CONTROL = {
    "id": "HLT-01",
    "title": "API answers",
    "severity": "critical",
    "runbook": "2.1 System Health Check",
    "area": "System health",
    "remediation": "restart the API",
    "runbook_url": "https://runbook.example/ops#21",
}
EVIDENCE = {"name": "status", "value": "500", "unit": "", "threshold": "200", "target": "api-1"}


def record(category: str | None = None, target: str | None = "api-1") -> dict[str, object]:
    evidence = [{**EVIDENCE, "at": "2026-11-27T02:00:00Z"}]
    return {"control": CONTROL, "evidence": evidence, "target": target, "category": category}


def phase(when: str, outcome: str, message: str = "", **extra: object) -> Phase:
    return Phase(when, outcome, message, 0.25, 1_790_000_000.0 + len(when), **extra)  # type: ignore[arg-type]


MESSAGE = "api-1 answered 500; expected 200"
NODE = "checks/test_health.py::test_api[http://api-1]"


def test_failed_call_is_failed_target_unhealthy_with_its_message() -> None:
    phases = [
        phase("setup", "passed", record=record()),
        phase(
            "call", "failed", "api-1 answered 500; expected 200", record=record("target unhealthy")
        ),
        phase("teardown", "passed", record=record()),
    ]
    check = combine(NODE, phases)
    assert (check.outcome, check.category) == ("failed", "target unhealthy")
    assert check.message == MESSAGE
    assert check.control is not None and check.control.runbook_url == CONTROL["runbook_url"]
    assert check.evidence[0].threshold == "200" and check.duration_s == 0.75
    assert check.subject == "http://api-1"


def test_setup_failure_is_an_error_with_the_setup_category() -> None:
    phases = [
        phase("setup", "failed", "could not measure: refused", record=record("could not measure")),
        phase("teardown", "passed", record=record()),
    ]
    check = combine(NODE, phases)
    assert (check.outcome, check.category) == ("error", "could not measure")


def test_a_waiver_property_makes_the_check_waived() -> None:
    waiver = {"ticket": "OPS-1", "expires": "2026-12-31"}
    phases = [
        phase("setup", "passed", record=record()),
        phase("call", "skipped", "answered 500", record=record("target unhealthy"), waiver=waiver),
        phase("teardown", "passed", record=record()),
    ]
    check = combine(NODE, phases)
    assert (check.outcome, check.waiver, check.category) == ("waived", waiver, "target unhealthy")


def test_passed_check_has_no_category_and_its_evidence_as_message() -> None:
    check = combine(NODE, [phase("call", "passed", record=record())])
    assert (check.outcome, check.category) == ("passed", None)
    assert check.message == "status 500 (threshold 200)"


def test_summary_counts_critical_failures_and_waivers() -> None:
    failed = combine(NODE, [phase("call", "failed", "x", record=record("target unhealthy"))])
    errored = combine(NODE, [phase("setup", "failed", "x", record=record("configuration"))])
    passed = combine(NODE, [phase("call", "passed")])
    summary = summarize([failed, errored, passed])
    assert (summary.passed, summary.failed, summary.failed_critical, summary.errors) == (1, 1, 1, 1)
    assert "1 failed (1 critical)" in summary.line()


def results(tmp_path: Path) -> tuple[Path, Results]:
    failed = combine(NODE, [phase("call", "failed", "x", record=record("target unhealthy"))])
    run = RunInfo("r1", "prod", "2026-11-27T02:00:00Z", "2026-11-27T02:00:05Z", "0.1.0", "", "h", 1)
    built = Results(run, (failed,), summarize([failed]))
    path = tmp_path / "results.json"
    built.write(path)
    return path, built


def test_results_json_has_the_documented_shape_and_reads_back(tmp_path: Path) -> None:
    path, built = results(tmp_path)
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA
    assert set(data) == {"schema", "run", "checks", "summary"}
    assert set(data["checks"][0]) == {
        "nodeid",
        "control",
        "outcome",
        "category",
        "message",
        "duration_s",
        "finished_at",
        "target",
        "evidence",
        "waiver",
    }
    assert set(data["checks"][0]["evidence"][0]) == {
        "name",
        "value",
        "unit",
        "threshold",
        "target",
        "at",
    }
    assert read_results(path) == built


def test_junit_is_finished_for_alerting(tmp_path: Path) -> None:
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite name="s"><testcase classname="checks.test_health" '
        'name="test_api[http://api-1]"><properties><property name="control_id" value="HLT-01"/>'
        '<property name="ops.record" value="{}"/></properties>'
        '<failure message="assert 500 == 200">trace</failure></testcase></testsuite></testsuites>'
    )
    check = CheckResult(
        NODE,
        ControlInfo(**CONTROL),  # type: ignore[arg-type]
        "failed",
        "target unhealthy",
        "api-1 answered 500; expected 200",
        0.1,
        "2026-11-27T02:00:00Z",
        "api-1",
        (EvidenceItem(**EVIDENCE),),
    )
    junit.finish(xml, {"env": "prod", "run_id": "r1"}, [check])
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None
    suite_props = {p.get("name"): p.get("value") for p in suite.find("properties") or []}
    assert suite_props == {"env": "prod", "run_id": "r1"}
    case = suite.find("testcase")
    assert case is not None
    names = [p.get("name") for p in case.iter("property")]
    assert names == ["control_id"]  # the machine record stays out of JUnit
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == (
        "HLT-01 [critical] target unhealthy: api-1 answered 500; expected 200"
        " | runbook: https://runbook.example/ops#21"
    )
