"""The Prometheus checks fail on a real Prometheus scraping a real API that the fault switches
break; "no data" is never a pass; a hung Prometheus costs one deadline."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from lms_opscheck.sandbox import monitoring, stack
from lms_opscheck.sandbox.processes import stop, wait_until
from tests.support import alertmanager
from tests.support.prometheus import (
    MISSING,
    query,
    requests,
    running_prometheus,
    scraped_after,
    traffic_counted,
    wait_for,
)
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.stacks import black_hole, sandbox_config

CHECKS = "checks/test_monitoring.py"
needs_prometheus = pytest.mark.skipif(monitoring.binary() is None, reason=MISSING)


def alertmanagers(url: str) -> list[Any]:
    answer = httpx.get(f"{url}/api/v1/alertmanagers", timeout=2).json()
    found: list[Any] = answer["data"]["activeAlertmanagers"]
    return found


def prometheus(url: str, **extra: Any) -> dict[str, Any]:
    """targets.prometheus for a self-test: the last minute is the window."""
    return {"url": url, "window": "1m", "availability_window": "1m", **extra}


def daily(tmp_path: Path, state: stack.State, **target: Any) -> SuiteRun:
    config = sandbox_config(state, targets={"prometheus": target})
    env_file = write_env(tmp_path / "env.yaml", config)
    return run_suite("-m", "daily", f"--env={env_file}", CHECKS, out=tmp_path / "out")


def outcomes(run: SuiteRun) -> dict[str, str]:
    return {r.properties["control_id"]: r.outcome for r in run.checks.values()}


@needs_prometheus
def test_healthy_lms_passes_every_prometheus_check(tmp_path: Path, live_stack: stack.State) -> None:
    if not alertmanager.available():
        pytest.skip("prometheus-alertmanager is absent: apt-get install prometheus-alertmanager")
    with (
        alertmanager.alertmanager(tmp_path / "am") as am_url,
        running_prometheus(
            tmp_path / "prom", live_stack.api_port, alertmanager=am_url.removeprefix("http://")
        ) as url,
    ):
        traffic_counted(url, live_stack.api_port)
        wait_until(lambda: bool(alertmanagers(url)), 20, "Alertmanager discovered")
        run = daily(tmp_path, live_stack, **prometheus(url, min_alertmanagers=1))
    assert outcomes(run) == {
        "MON-01": "passed",
        "MON-02": "passed",
        "MON-03": "passed",
        "MON-04": "passed",
        "MON-05": "passed",
        "MON-09": "passed",
        "MON-06": "skipped",
        "MON-07": "skipped",
        "MON-08": "skipped",
    }, run.output
    assert "optional: targets.sentry is absent" in run.only("test_no_new_unresolved").message


@needs_prometheus
def test_fault_switches_breach_the_slos_and_fire_a_critical_alert(
    tmp_path: Path, live_stack: stack.State
) -> None:
    api = f"http://127.0.0.1:{live_stack.api_port}"
    with running_prometheus(tmp_path / "prom", live_stack.api_port) as url:
        traffic_counted(url, live_stack.api_port)
        faults = live_stack.dir / "faults"
        (faults / "health_500").touch()
        (faults / "slow_ms").write_text("900")
        for _ in range(2):  # the new 5xx series needs two samples for rate()
            requests(api, 40, workers=40)
            scraped_after(url, live_stack.api_port, time.time())
        wait_for(url, 'ALERTS{alertname="LMSHealthFailing",alertstate="firing"}', "the alert")
        run = daily(tmp_path, live_stack, **prometheus(url))
    alert = run.only("test_no_critical_alert_is_firing")
    assert alert.outcome == "failed", run.output
    assert "critical alert(s) firing in " + url in alert.message
    assert "LMSHealthFailing since 20" in alert.message  # with when it started
    assert "none may fire (severity in ['critical'])" in alert.message
    availability = run.only("test_availability_meets_the_slo")
    assert availability.outcome == "failed"
    assert "availability of the LMS over the last 1m is" in availability.message
    assert "the SLO is 99.9%" in availability.message
    errors = run.only("test_error_rate_meets_the_slo")
    assert errors.outcome == "failed" and "the SLO is < 1%" in errors.message
    latency = run.only("test_p95_latency_meets_the_slo")
    assert latency.outcome == "failed", latency.message
    assert "p95 latency of the LMS over the last 1m is" in latency.message
    assert "the SLO is < 800ms" in latency.message
    assert run.only("test_every_lms_scrape_target_is_up").outcome == "passed"


@needs_prometheus
def test_stopped_api_is_a_down_scrape_target(tmp_path: Path, live_stack: stack.State) -> None:
    with running_prometheus(tmp_path / "prom", live_stack.api_port) as url:
        wait_for(url, f'up{{instance="127.0.0.1:{live_stack.api_port}"}} == 1', "a first scrape")
        stop(live_stack.api_pid)
        wait_for(url, f'up{{instance="127.0.0.1:{live_stack.api_port}"}} == 0', "a failed scrape")
        run = daily(tmp_path, live_stack, **prometheus(url))
    target = run.only("test_every_lms_scrape_target_is_up")
    assert target.outcome == "failed", run.output
    assert f"1 of 1 scrape target(s) of lms-api not up in {url}/api/v1/targets" in target.message
    assert f"http://127.0.0.1:{live_stack.api_port}/metrics (lms-api) is down" in target.message


@needs_prometheus
def test_no_series_and_no_rules_are_no_data_never_a_pass(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    # A job name nothing scrapes, no alerting rule, a query that evaluates to NaN.
    with running_prometheus(tmp_path / "prom", shared_stack.api_port, rules="groups: []\n") as url:
        target = prometheus(url, jobs=["lms-web"], queries={"availability": "vector(0) / 0"})
        run = daily(tmp_path, shared_stack, **target)
    results = {r.properties["control_id"]: r for r in run.checks.values()}
    for control in ("MON-01", "MON-02", "MON-03", "MON-04", "MON-05"):
        assert results[control].outcome == "error", (control, run.output)
        assert "could not measure" in results[control].message
    assert "no alerting rule is loaded" in results["MON-01"].message
    assert "'vector(0) / 0' is NaN (nothing counted in the window)" in results["MON-02"].message
    assert "returned no series" in results["MON-03"].message
    assert "no data: no active scrape target of job(s) lms-web" in results["MON-05"].message
    assert results["MON-09"].outcome == "failed"
    assert f"{url} has no alerting rule loaded" in results["MON-09"].message


@needs_prometheus
def test_alerting_without_alertmanager_fails_mon09(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    with running_prometheus(tmp_path / "prom", shared_stack.api_port) as url:
        run = daily(tmp_path, shared_stack, **prometheus(url, min_alertmanagers=1))
    result = run.only("test_alerting_is_enabled")
    assert result.outcome == "failed", run.output
    assert f"{url} sends alerts to 0 Alertmanager(s); at least 1 expected" in result.message


def test_hung_prometheus_is_unmeasurable_after_one_deadline(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    with black_hole() as port:
        url = f"http://127.0.0.1:{port}"
        config = sandbox_config(
            shared_stack,
            timeouts={"connect": "1s", "request": "1s", "deadline": "2s"},
            targets={"prometheus": prometheus(url)},
        )
        run = run_suite(
            "-m", "daily", f"--env={write_env(tmp_path / 'env.yaml', config)}", CHECKS,
            out=tmp_path / "out",
        )  # fmt: skip
    prometheus_checks = [r for r in run.checks.values() if r.outcome != "skipped"]
    assert len(prometheus_checks) == 6, run.output
    for result in prometheus_checks:
        assert result.outcome == "error", run.output
        assert url in result.message and "no answer" in result.message


@needs_prometheus
def test_the_sandbox_rules_are_valid_and_quiet_on_a_healthy_api(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(monitoring.RULES)
    checked = subprocess.run(
        ["promtool", "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with running_prometheus(
        tmp_path / "prom", shared_stack.api_port, rules=monitoring.RULES
    ) as url:
        traffic_counted(url, shared_stack.api_port)
        groups = httpx.get(f"{url}/api/v1/rules", timeout=2).json()["data"]["groups"]
        firing = query(url, "ALERTS")
    health = {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}
    assert health == dict.fromkeys(("LMSApiDown", "LMSHighErrorRate", "LMSHighLatency"), "ok")
    assert firing == [], firing


def test_an_environment_without_prometheus_skips_saying_why(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    # The sandbox without the binary: targets.prometheus.url is empty, even under strict.
    run = daily(tmp_path, shared_stack, url="")
    skipped = [r for r in run.checks.values() if r.properties["control_id"] in (
        "MON-01", "MON-02", "MON-03", "MON-04", "MON-05", "MON-09"
    )]  # fmt: skip
    assert len(skipped) == 6 and {r.outcome for r in skipped} == {"skipped"}, run.output
    assert all(
        "targets.prometheus.url is empty in environment 'selftest'" in r.message for r in skipped
    )
    assert run.exit_code == 0


def test_the_sandbox_says_at_up_when_prometheus_is_not_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no prometheus binary on this PATH
    assert monitoring.binary() is None
    assert monitoring.status_lines(tmp_path) == [
        "  prometheus not installed (apt-get install prometheus): monitoring checks skip"
    ]
    assert monitoring.environ(tmp_path)["SANDBOX_PROMETHEUS_URL"] == ""
