"""Alert payloads, the Prometheus textfile and Allure metadata, built from the records."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lms_opscheck.record import CheckRecord, Results, RunInfo, make_evidence, summarize
from lms_opscheck.reports import alerts, allure_meta, textfile
from tests.support.sample_runs import check as sample_check

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def check(cid: str, outcome: str, subject: str = "") -> CheckRecord:
    record = sample_check(cid, outcome, severity="critical", message="msg", subject=subject)
    evidence = (
        make_evidence("latency", timedelta(milliseconds=850), threshold="<= 800ms"),
        make_evidence("tables", 12),
        make_evidence("newest", "lms_1.dump"),
        make_evidence("age", timedelta(days=30, hours=2, minutes=1)),
        make_evidence("size", 2, unit="MiB"),
    )
    return record.model_copy(update={"evidence": evidence, "target": "dump_1"})


def results(*checks: CheckRecord) -> Results:
    run = RunInfo(
        id="r1",
        env="prod",
        env_identity="prod@x",
        started_at="2026-11-27T02:00:00Z",
        finished_at="2026-11-27T02:00:03Z",
        suite_version="0.1.0",
        selection="daily",
        host="h",
        exit_status=1,
    )
    return Results(run=run, checks=checks, summary=summarize(checks))


def test_failing_checks_fire_and_passing_ones_resolve() -> None:
    payload = alerts.payload(
        results(check("HLT-01", "failed"), check("HLT-02", "passed"), check("BKP-08", "skipped")),
        NOW,
    )
    assert [a["labels"]["control"] for a in payload] == ["HLT-01", "HLT-02"]
    firing, resolved = payload
    assert firing["endsAt"] > firing["startsAt"] and resolved["endsAt"] == resolved["startsAt"]
    assert firing["labels"] == {
        "alertname": "OpsCheckFailing",
        "control": "HLT-01",
        "severity": "critical",
        "env": "prod",
        "target": "",
    }
    assert "fix HLT-01 like this" in firing["annotations"]["description"]


def test_alert_identity_does_not_change_with_the_measured_target() -> None:
    one = check("BKP-01", "failed")
    other = one.model_copy(update={"target": "dump_2"})
    assert alerts.labels(one, "prod") == alerts.labels(other, "prod")


def test_push_to_a_closed_port_is_reported_not_raised() -> None:
    from tests.support.stacks import closed_port

    result = alerts.push(f"http://127.0.0.1:{closed_port()}", [{"labels": {}}], timeout=2)
    assert not result.ok and "failed" in result.detail


def test_a_malformed_alertmanager_url_is_named() -> None:
    assert alerts.check_url("http://[::1") is not None
    assert alerts.check_url("ftp://x") is not None
    assert alerts.check_url("http://am:9093") is None


def test_textfile_exports_every_number_in_base_units_and_the_state() -> None:
    text = textfile.render(
        results(check("BKP-01", "failed"), check("HLT-01", "error", "a")), now=1.5
    )
    assert 'ops_check_up{env="prod",control="BKP-01",target="",severity="critical"} 0' in text
    base = 'env="prod",control="BKP-01",target=""'
    assert f'ops_check_value{{{base},name="latency",unit="seconds"}} 0.85' in text
    assert f'ops_check_value{{{base},name="tables",unit=""}} 12' in text
    # a compound duration (30d2h1m) is exported, in seconds
    assert f'ops_check_value{{{base},name="age",unit="seconds"}} {30 * 86400 + 7260}' in text
    assert f'ops_check_value{{{base},name="size",unit="bytes"}} {2 * 1024 * 1024}' in text
    assert 'name="newest"' not in text  # not a number
    assert f'ops_check_state{{{base},severity="critical",state="failed"}} 1' in text
    assert 'control="HLT-01",target="a",severity="critical",state="error"} 1' in text
    assert 'ops_run_checks{env="prod",outcome="error"} 1' in text
    assert 'ops_check_last_run_timestamp_seconds{env="prod"} 1.500' in text


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) absent")
def test_promtool_accepts_the_textfile(tmp_path: Path) -> None:
    text = textfile.render(results(check("BKP-01", "failed"), check("HLT-01", "passed", "a")))
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), (
        done.stdout + done.stderr
    )


def test_allure_metadata_and_a_relocatable_allurerc(tmp_path: Path) -> None:
    run_dir, allure_dir = tmp_path / "run", tmp_path / "run" / "allure-results"
    info = {"env": "prod", "run_id": "r1", "suite_version": "0.1.0"}
    allure_meta.write_meta(run_dir, allure_dir, info, "r1", None)
    assert "env=prod" in (allure_dir / "environment.properties").read_text()
    config = json.loads((run_dir / "allurerc.json").read_text())
    assert config["output"] == "allure-report"  # relative: a copied folder makes its own report
    assert str(tmp_path) not in (run_dir / "allurerc.json").read_text()
    names = [rule["name"] for rule in config["categories"]["rules"]]
    assert names == ["target unhealthy", "could not measure", "configuration", "suite error"]


def test_junit_keeps_the_headline_for_an_ipv6_target(tmp_path: Path) -> None:
    from lms_opscheck.reports import junit
    from tests.support import junit_readers

    failed = check("HLT-01", "failed", "http://[::1]:8000")
    junit.write(results(failed), tmp_path / "junit.xml")
    (case,) = junit_readers.gitlab(tmp_path / "junit.xml").values()
    assert case.name == "HLT-01 test_hlt_01[http://[::1]:8000]"
    assert isinstance(case.system_output, str)
    assert case.system_output.startswith("HLT-01 [critical] target unhealthy on http://[::1]:8000")
