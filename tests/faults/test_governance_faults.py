"""Waivers and attestations change real outcomes: waived, failing after expiry, never for errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lms_opscheck.sandbox import stack
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.stacks import closed_port, sandbox_config

# Three workers required, one running: HLT-05 fails for real (measured, out of policy).
TOO_FEW_WORKERS = {"targets": {"celery": {"min_workers": 3}}}


def waiver(control: str, expires: str) -> dict[str, str]:
    return {
        "control": control,
        "reason": "second worker host is being rebuilt",
        "ticket": "OPS-5",
        "approver": "Eng lead",
        "expires": expires,
    }


def run(tmp_path: Path, config: dict[str, Any], *args: str) -> SuiteRun:
    env_file = write_env(tmp_path / "env.yaml", config)
    return run_suite(*args, f"--env={env_file}", out=tmp_path / "out")


def results(run: SuiteRun) -> dict[str, str]:
    data = json.loads((run.run_dir / "results.json").read_text())
    return {c["control"]["id"]: c["outcome"] for c in data["checks"]}


def test_waiver_in_force_turns_a_failing_check_into_waived(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(shared_stack, **TOO_FEW_WORKERS, waivers=[waiver("HLT-05", "in 30d")])
    suite = run(tmp_path, config, "-m", "daily or weekly", "-k", "health or governance")
    workers = suite.only("test_enough_celery_workers")
    assert workers.outcome == "skipped"
    assert "waived by OPS-5 until" in workers.message
    assert "1 Celery worker(s) answered ping" in workers.message  # the finding stays visible
    assert "  WAIVED HLT-05 by OPS-5 until " in suite.stdout
    assert results(suite)["HLT-05"] == "waived"
    assert suite.only("test_no_waiver_has_expired").outcome == "passed"
    assert suite.exit_code == 0, suite.output


def test_expired_waiver_fails_the_check_and_gov_01_names_it(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    expired = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    config = sandbox_config(shared_stack, **TOO_FEW_WORKERS, waivers=[waiver("HLT-05", expired)])
    suite = run(tmp_path, config, "-m", "daily or weekly", "-k", "health or governance")
    assert suite.only("test_enough_celery_workers").outcome == "failed"
    gov = suite.only("test_no_waiver_has_expired")
    assert gov.outcome == "failed"
    assert f"waiver of HLT-05 (OPS-5, approved by Eng lead) expired {expired} (2d ago)" in (
        gov.message
    )
    assert suite.exit_code == 1


def test_a_check_that_could_not_measure_is_never_waived(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(
        shared_stack,
        targets={"redis": {"port": closed_port()}},
        waivers=[waiver("HLT-04", "in 9d")],
    )
    suite = run(tmp_path, config, "-m", "daily", "-k", "redis_answers_ping")
    assert suite.only("test_redis_answers_ping").outcome == "error"
    assert results(suite)["HLT-04"] == "error"


def test_missing_and_stale_attestations_fail_and_show_in_the_report(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(shared_stack)
    kept = [a for a in config["attestations"] if a["id"] not in ("uat-signoff", "runbook-review")]
    stale = {
        "id": "runbook-review",
        "by": "Eng lead",
        "at": "200d ago",
        "evidence": "https://git.lms.example/mr/1",
    }
    config["attestations"] = [*kept, stale]
    suite = run(tmp_path, config, "-m", "weekly", "-k", "governance", "--compliance-report")
    uat = suite.only("test_manual_item_is_attested_and_current[uat-signoff]")
    assert uat.outcome == "failed"
    assert "no attestation of 'uat-signoff' (UAT sign-off obtained)" in uat.message
    review = suite.only("test_manual_item_is_attested_and_current[runbook-review]")
    assert review.outcome == "failed"
    assert "attested by Eng lead on" in review.message and "is out of date: due" in review.message
    assert "every 92d" in review.message
    assert suite.only("test_manual_item_is_attested_and_current[on-call-schedule]").outcome == (
        "passed"
    )
    report = (suite.run_dir / "compliance.md").read_text()
    assert "| UAT sign-off obtained (`uat-signoff`) | missing |" in report
    assert "| Quarterly runbook review (`runbook-review`) | out of date |" in report


def test_launch_selects_only_the_pre_launch_attestations(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    suite = run(tmp_path, sandbox_config(shared_stack), "-m", "launch", "-k", "governance")
    assert sorted(suite.checks) == [
        "test_manual_item_is_attested_and_current[legal-review]",
        "test_manual_item_is_attested_and_current[uat-signoff]",
    ]
    assert suite.exit_code == 0, suite.output


def test_waiver_of_an_undeclared_control_fails_gov_03_naming_it(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(shared_stack, waivers=[waiver("HLT-99", "in 30d")])
    suite = run(tmp_path, config, "-m", "weekly", "-k", "governance")
    gov = suite.only("test_every_waiver_names_a_declared_control")
    assert gov.outcome == "failed"
    assert "1 waiver(s) in selftest name a control no check declares: HLT-99" in gov.message


def test_waiver_beyond_the_maximum_length_fails_gov_01_naming_it(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    far = (datetime.now(UTC).date() + timedelta(days=400)).isoformat()
    config = sandbox_config(shared_stack, **TOO_FEW_WORKERS, waivers=[waiver("HLT-05", far)])
    suite = run(tmp_path, config, "-m", "weekly", "-k", "governance")
    gov = suite.only("test_no_waiver_has_expired")
    assert gov.outcome == "failed"
    assert f"waiver of HLT-05 (OPS-5, approved by Eng lead) expires {far}, 400d after" in (
        gov.message
    )
    assert "the maximum waiver length is 90d" in gov.message
    assert suite.exit_code == 1


def test_waiver_of_a_governance_control_is_a_config_error(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(shared_stack, waivers=[waiver("GOV-02", "in 30d")])
    suite = run(tmp_path, config, "-m", "weekly", "-k", "governance")
    assert suite.exit_code == 4, suite.output
    assert "waivers.0.control: " in suite.output and "GOV-02 cannot be waived" in suite.output
    assert not suite.checks


def test_an_environment_cadence_cannot_outlast_the_catalogue(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(shared_stack)
    kept = [a for a in config["attestations"] if a["id"] != "staff-training"]
    lax = {
        "id": "staff-training",
        "by": "Ops manager",
        "at": "60d ago",
        "evidence": "https://wiki.lms.example/training",
        "cadence": "1000w",
    }
    config["attestations"] = [*kept, lax]
    suite = run(tmp_path, config, "-m", "weekly", "-k", "governance")
    training = suite.only("test_manual_item_is_attested_and_current[staff-training]")
    assert training.outcome == "failed"
    assert "(cadence 7000d ignored: longer than the catalogue's 31d)" in training.message
    assert "is out of date: due" in training.message and "every 31d" in training.message
