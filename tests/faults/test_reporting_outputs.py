"""What on-call receives from a run: results JSON, JUnit, Allure, alerts, textfile; no secrets."""

from __future__ import annotations

import json
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from lms_opscheck.sandbox import faults, stack
from tests.support import alertmanager
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.stacks import closed_port, sandbox_config

CANARIES = {
    "CANARY_DB_PASSWORD": "Canary-Db-Password-51e0b7",
    "CANARY_REDIS_PASSWORD": "Canary-Redis-Password-9d2c44",
    "CANARY_API_TOKEN": "Canary-Api-Token-0c8f13",
    "CANARY_VAULT_TOKEN": "hvs.Canary-Vault-Token-77aa21",
}
ALLURE = ["npx", "--yes", "allure@3.18.0"]


def results_of(run: SuiteRun) -> dict[str, dict[str, object]]:
    data = json.loads((run.run_dir / "results.json").read_text())
    assert data["schema"] == "opscheck.results/2"
    return {c["nodeid"].split("::")[-1].split("[")[0]: c for c in data["checks"]}


def assert_no_canary(run: SuiteRun, *extra: str) -> None:
    for name, secret in CANARIES.items():
        assert secret not in run.output, f"{name} printed"
        for text in extra:
            assert secret not in text, f"{name} pushed"
        for path in run.run_dir.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), f"{name} in {path}"


@pytest.fixture
def am_url(tmp_path: Path) -> Iterator[str]:
    if not alertmanager.available():
        pytest.skip(f"{alertmanager.BINARY} is not installed (Debian: prometheus-alertmanager)")
    with alertmanager.alertmanager(tmp_path / "alertmanager") as url:
        yield url


def test_broken_stack_reaches_on_call_with_evidence_and_without_secrets(
    tmp_path: Path, live_stack: stack.State, am_url: str
) -> None:
    faults.api_500(live_stack.dir)
    config = sandbox_config(
        live_stack,
        targets={
            "postgres": {"password": "${CANARY_DB_PASSWORD}"},
            "redis": {"password": "${CANARY_REDIS_PASSWORD}"},
        },
        credentials={"api_token": "${CANARY_API_TOKEN}", "vault_token": "${CANARY_VAULT_TOKEN}"},
    )
    env_file = write_env(tmp_path / "env.yaml", config)
    prom = tmp_path / "textfile" / "opscheck.prom"
    run = run_suite(
        "-m",
        "daily",
        f"--env={env_file}",
        "-n",
        "2",
        "-o",
        "opscheck_xdist=honour",  # keep xdist although the sandbox has one replica
        f"--alertmanager={am_url}",
        f"--textfile={prom}",
        out=tmp_path / "out",
        env=CANARIES,
    )
    api = f"http://127.0.0.1:{live_stack.api_port}"
    assert run.exit_code == 1, run.output

    # results.json: outcome, category, message naming target/value/expectation, evidence
    checks = results_of(run)
    health = checks["test_api_replica_answers_liveness"]
    assert (health["outcome"], health["category"]) == ("failed", "target unhealthy")
    assert f"{api}/api/v1/health answered 500" in str(health["message"])
    assert health["target"] == api
    assert {"name": "status", "value": "500"}.items() <= health["evidence"][0].items()  # type: ignore[index]
    database = checks["test_database_answers_select_1"]
    assert (database["outcome"], database["category"]) == ("error", "could not measure")
    data = json.loads((run.run_dir / "results.json").read_text())
    assert data["run"]["env"] == "selftest" and data["run"]["exit_status"] == 1
    critical = data["summary"]["by_severity"]["critical"]
    assert critical["failed"] >= 1 and critical["error"] >= 2

    # JUnit: alert-ready message, readable properties, suite properties despite -n 2
    root = ET.parse(run.run_dir / "junit.xml").getroot()
    suite_props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert suite_props["run_id"] == data["run"]["id"]
    failed = run.only("test_api_replica_answers_liveness")
    assert failed.message.startswith("HLT-01 [critical] target unhealthy: ")
    assert "| runbook: https://" in failed.message
    for key in ("control_id", "severity", "env", "target", "measured", "threshold", "remediation"):
        assert key in failed.properties, key
    assert "status=500" in failed.properties["measured"]
    assert "ops.record" not in (run.run_dir / "junit.xml").read_text()

    # Alertmanager holds the firing alert with its runbook link
    held = alertmanager.alerts(am_url)
    fired = [a for a in held if a["labels"]["control"] == "HLT-01"]
    assert len(fired) == 1, held
    assert fired[0]["labels"]["env"] == "selftest" and fired[0]["labels"]["target"] == api
    assert fired[0]["annotations"]["runbook_url"].startswith("https://")
    assert "alertmanager: pushed" in run.stdout

    # textfile, Allure metadata written once, summary line
    assert f'ops_check_up{{env="selftest",control="HLT-01",target="{api}"' in prom.read_text()
    allure = run.run_dir / "allure-results"
    assert (allure / "environment.properties").read_text().count("env=selftest") == 1
    assert (allure / "categories.json").is_file() and (allure / "executor.json").is_file()
    labelled = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    assert len(labelled) == len(data["checks"])  # one result per check under -n 2
    hlt01 = next(r for r in labelled if r["name"].startswith("HLT-01 "))
    labels = {(label["name"], label["value"]) for label in hlt01["labels"]}
    assert {("control", "HLT-01"), ("severity", "critical"), ("epic", "System health")} <= labels
    assert hlt01["status"] == "failed" and hlt01["links"][0]["url"].startswith("https://")
    assert "ops-check selftest: " in run.stdout and "results.json" in run.stdout

    assert_no_canary(run, json.dumps(held), prom.read_text())


@pytest.fixture(scope="module")
def healthy_run(tmp_path_factory: pytest.TempPathFactory, shared_stack: stack.State) -> SuiteRun:
    tmp = tmp_path_factory.mktemp("healthy")
    env_file = write_env(tmp / "env.yaml", sandbox_config(shared_stack))
    return run_suite(
        "-m",
        "daily",
        f"--env={env_file}",
        f"--alertmanager=http://127.0.0.1:{closed_port()}",
        out=tmp / "out",
    )


@pytest.fixture(scope="module")
def strict_run(
    tmp_path_factory: pytest.TempPathFactory, shared_stack: stack.State
) -> tuple[SuiteRun, Path]:
    """Celery left out of a strict environment: one configuration error, the rest passes."""
    tmp = tmp_path_factory.mktemp("strict")
    config = sandbox_config(shared_stack, strict=True, targets={"celery": None})
    env_file = write_env(tmp / "env.yaml", config)
    history = tmp / "history" / "allure-history.jsonl"
    run = run_suite(
        "-m", "daily", f"--env={env_file}", f"--allure-history={history}", out=tmp / "out"
    )
    return run, history


def test_a_failed_push_is_reported_and_does_not_change_the_exit_status(
    healthy_run: SuiteRun,
) -> None:
    run = healthy_run
    assert run.exit_code == 0, run.output
    assert "alertmanager PUSH FAILED: push to http://127.0.0.1:" in run.stdout
    assert "ops-check selftest: OK — " in run.last_line and "0 failed, 0 errors" in run.last_line
    alerts = json.loads((run.run_dir / "alerts.json").read_text())
    assert alerts and all(a["endsAt"] == a["startsAt"] for a in alerts)  # all resolved


def test_undeclared_component_in_a_strict_environment_is_a_configuration_error(
    strict_run: tuple[SuiteRun, Path],
) -> None:
    run, _ = strict_run
    workers = results_of(run)["test_enough_celery_workers_answer_ping"]
    assert (workers["outcome"], workers["category"]) == ("error", "configuration")
    assert "targets.celery" in str(workers["message"])


@pytest.mark.skipif(shutil.which("npx") is None, reason="Node (npx) is not installed")
def test_allure_3_generates_a_single_file_report_and_keeps_history(
    strict_run: tuple[SuiteRun, Path],
) -> None:
    run, history = strict_run
    for attempt in (1, 2):
        done = subprocess.run(
            [*ALLURE, "generate", "allure-results"],
            cwd=run.run_dir,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode != 0 and attempt == 1 and "npm" in done.stderr.lower():
            pytest.skip(f"the Allure 3 CLI could not be installed: {done.stderr[-300:]}")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "error" not in (done.stdout + done.stderr).lower(), done.stdout + done.stderr
    report = run.run_dir / "allure-report" / "index.html"
    assert report.is_file() and report.stat().st_size > 100_000
    assert [p.name for p in report.parent.iterdir() if p.suffix == ".html"] == ["index.html"]
    assert len(history.read_text().splitlines()) == 2  # one line per generated report
    results = json.loads((report.parent / "test-results.json").read_text())["byId"].values()
    broken = [r for r in results if r["status"] not in ("passed", "skipped")]
    assert [r["name"].split()[0] for r in broken] == ["HLT-05"]  # titled by the control
