"""The daily health checks fail, on real processes, for the faults they exist for."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from lms_opscheck.probes.redaction import encodings, fragments
from lms_opscheck.sandbox import faults, stack
from lms_opscheck.sandbox.processes import free_port, stop
from lms_opscheck.sandbox.redis_server import start_redis
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.stacks import black_hole, closed_port, hung_config, sandbox_config


def daily(tmp_path: Path, config: dict[str, object], *extra: str) -> SuiteRun:
    tmp_path.mkdir(exist_ok=True)
    env_file = write_env(tmp_path / "env.yaml", config)
    return run_suite("-m", "daily", f"--env={env_file}", *extra, out=tmp_path / "out")


def test_healthy_stack_passes_every_daily_health_check(
    tmp_path: Path, live_stack: stack.State
) -> None:
    run = daily(tmp_path, sandbox_config(live_stack))
    assert run.exit_code == 0, run.output
    assert len(run.checks) >= 5
    assert not [r for r in run.checks.values() if r.outcome in ("failed", "error")], run.output
    skipped = [r for r in run.checks.values() if r.outcome == "skipped"]
    # Private stacks run no Prometheus and declare no Sentry or Grafana: MON-* skip, saying so.
    assert all(
        r.properties["control_id"].startswith("MON-")
        or (
            r.properties.get("control_id") in ("BKP-08", "SEC-07") and "not applicable" in r.message
        )
        for r in skipped
    ), run.output
    assert all("not applicable" in r.message for r in skipped), run.output


def test_api_answering_500_fails_liveness_naming_url_status_and_expectation(
    tmp_path: Path, live_stack: stack.State
) -> None:
    faults.api_500(live_stack.dir)
    run = daily(tmp_path, sandbox_config(live_stack))
    result = run.only("test_api_replica_answers_liveness")
    assert result.outcome == "failed"
    assert f"http://127.0.0.1:{live_stack.api_port}/api/v1/health answered 500" in result.message
    assert "expected 200" in result.message
    assert run.exit_code == 1


def test_slow_api_fails_the_latency_control_only_and_its_waiver_hides_nothing_else(
    tmp_path: Path, live_stack: stack.State
) -> None:
    faults.api_slow(live_stack.dir, timedelta(milliseconds=300))
    config = sandbox_config(live_stack, policy={"api_latency": "100ms"})
    run = daily(tmp_path, config)
    latency = run.only("test_api_replica_answers_within_latency_slo")
    assert latency.outcome == "failed"
    api = f"http://127.0.0.1:{live_stack.api_port}/api/v1/health"
    assert f"{api} answered in " in latency.message
    assert "the latency SLO is 100ms (policy.api_latency)" in latency.message
    assert run.only("test_api_replica_answers_liveness").outcome == "passed"

    # A waiver for slow latency does not hide a 500: liveness is its own control.
    (live_stack.dir / "faults" / "health_500").touch()
    waiver = {
        "control": "HLT-06",
        "reason": "replica CPU upgrade scheduled",
        "ticket": "OPS-9",
        "approver": "Eng lead",
        "expires": "in 10d",
    }
    run = daily(tmp_path / "waived", {**config, "waivers": [waiver]})
    assert run.only("test_api_replica_answers_within_latency_slo").outcome == "skipped"
    liveness = run.only("test_api_replica_answers_liveness")
    assert liveness.outcome == "failed"
    assert f"{api} answered 500 " in liveness.message and "expected 200" in liveness.message


def test_degraded_readiness_names_the_dependency_that_is_down(
    tmp_path: Path, live_stack: stack.State
) -> None:
    faults.stop(live_stack.dir, "redis")
    run = daily(tmp_path, sandbox_config(live_stack))
    ready = run.only("test_api_replica_is_ready")
    assert ready.outcome == "failed"
    assert "answered 503, degraded: redis" in ready.message
    # Redis itself is gone: its own check could not measure (error), distinct from "failed".
    redis = run.only("test_redis_answers_ping")
    assert redis.outcome == "error"
    assert f"redis://127.0.0.1:{live_stack.redis_port}/0" in redis.message


def test_stopped_api_is_an_error_naming_the_url(tmp_path: Path, live_stack: stack.State) -> None:
    faults.stop(live_stack.dir, "api")
    run = daily(tmp_path, sandbox_config(live_stack))
    for prefix in ("test_api_replica_answers_liveness", "test_api_replica_is_ready"):
        result = run.only(prefix)
        assert result.outcome == "error"
        assert f"http://127.0.0.1:{live_stack.api_port}" in result.message
        assert "could not measure" in result.message


def test_stopped_postgres_is_an_error_naming_the_server_and_the_cause(
    tmp_path: Path, live_stack: stack.State
) -> None:
    faults.stop(live_stack.dir, "postgres")
    result = daily(tmp_path, sandbox_config(live_stack)).only("test_database_answers_select_1")
    assert result.outcome == "error"
    assert f"postgresql://lms@127.0.0.1:{live_stack.pg_port}/lms: Connection refused (Is the" in (
        result.message
    )


def test_wrong_database_password_is_an_error_and_never_printed(
    tmp_path: Path, live_stack: stack.State
) -> None:
    # Characters that XML, JSON and URLs escape or cut: every encoded form and every piece a
    # URL parser could print must be scrubbed.
    canary = 'Canary&<Db>"Pass\\word/Slash#Hash?Query%41-7f3a9c'
    forms = {form for piece in {canary, *fragments(canary)} for form in encodings(piece)}
    config = sandbox_config(live_stack, targets={"postgres": {"password": "${CANARY_PG}"}})
    env_file = write_env(tmp_path / "env.yaml", config)
    run = run_suite(
        "-m",
        "daily",
        f"--env={env_file}",
        "-n",
        "2",
        "-o",
        "opscheck_xdist=honour",  # really distributed: secrets cross to the controller
        out=tmp_path / "out",
        env={"CANARY_PG": canary},
    )
    result = run.only("test_database_answers_select_1")
    assert result.outcome == "error"
    assert "credentials rejected" in result.message
    assert not any(form in run.output for form in forms)
    for path in run.run_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(form.encode() in data for form in forms), path


def test_redis_stopped_is_an_error(tmp_path: Path, live_stack: stack.State) -> None:
    faults.stop(live_stack.dir, "redis")
    result = daily(tmp_path, sandbox_config(live_stack)).only("test_redis_answers_ping")
    assert result.outcome == "error"
    assert "could not measure (unreachable)" in result.message


@pytest.mark.parametrize("configured", ["not-required", None], ids=["with", "without"])
def test_redis_without_a_password_fails_only_the_auth_control(
    tmp_path: Path, configured: str | None
) -> None:
    """The LMS's compose files run Redis without a password: only SEC-01 says so."""
    port = free_port()
    pid = start_redis(tmp_path / "redis", port, password=None)
    try:
        redis: dict[str, object] = {"host": "127.0.0.1", "port": port}
        if configured:
            redis["password"] = configured
        config = {"name": "selftest", "targets": {"redis": redis}}
        run = daily(tmp_path, config)
        isolated = daily(
            tmp_path / "isolated",
            {"name": "selftest", "targets": {"redis": {**redis, "auth": "network-isolated"}}},
        )
    finally:
        stop(pid)
    auth = run.only("test_redis_refuses_unauthenticated_clients")
    assert auth.outcome == "failed"
    assert f"redis://127.0.0.1:{port}/0 answered PING without a password" in auth.message
    assert auth.properties["control_id"] == "SEC-01"
    assert "requirepass" in auth.properties["remediation"]
    assert "CELERY_BROKER_URL" in auth.properties["remediation"]
    redis_controls = {
        r.properties["control_id"]: r.outcome
        for r in run.checks.values()
        if r.properties.get("control_id") in ("HLT-04", "HLT-08", "SEC-01")
    }
    assert redis_controls == {"HLT-04": "passed", "HLT-08": "passed", "SEC-01": "failed"}

    skipped = isolated.only("test_redis_refuses_unauthenticated_clients")
    assert skipped.outcome == "skipped"
    assert "not applicable: declared network-isolated (targets.redis.auth)" in skipped.message
    assert isolated.exit_code == 0, isolated.output


def test_stopped_worker_fails_with_count_and_minimum(
    tmp_path: Path, live_stack: stack.State
) -> None:
    faults.stop(live_stack.dir, "worker")
    result = daily(tmp_path, sandbox_config(live_stack)).only("test_enough_celery_workers")
    assert result.outcome == "failed"
    assert f"0 Celery worker(s) answered ping on redis://127.0.0.1:{live_stack.redis_port}/1" in (
        result.message
    )
    assert "at least 1 expected" in result.message


def test_broker_down_is_an_error_not_a_missing_worker(tmp_path: Path) -> None:
    port = closed_port()
    config = {
        "name": "selftest",
        "targets": {"celery": {"broker": {"host": "127.0.0.1", "port": port, "db": 1}}},
    }
    result = daily(tmp_path, config).only("test_enough_celery_workers")
    assert result.outcome == "error"
    assert "broker unreachable" in result.message
    assert f"redis://127.0.0.1:{port}/1" in result.message


def test_every_target_hung_costs_one_deadline_not_one_per_check(tmp_path: Path) -> None:
    with black_hole() as port:
        config = hung_config(port, deadline="3s")
        started = time.monotonic()
        run = daily(tmp_path, config)
        elapsed = time.monotonic() - started
    health = {
        n: r
        for n, r in run.checks.items()
        if r.properties.get("control_id", "").startswith("HLT")
        or r.properties.get("control_id") in ("SEC-01", "SEC-05")
    }
    assert len(health) >= 12, run.output  # HLT-01..10 and SEC-01, SEC-05
    assert {r.outcome for r in health.values()} == {"error"}, run.output
    # How long it took is the benchmark's business (bench/bench_daily.py); here: the run
    # ended, every check is an error, and the deadline is what ended the slowest measurement.
    print(f"every target hung: {elapsed:.1f}s")
    assert any("no answer" in r.message for r in health.values())
    assert any("within the run's deadline" in r.message for r in health.values()), run.output


def test_the_health_and_host_rounds_are_under_way_before_the_first_check_asks(
    tmp_path: Path,
) -> None:
    """Checks that need no measurement (they come first in the daily order) run while the rounds
    wait on the network: they start with the checks, not when the first check asks."""
    watch = tmp_path / "watch.json"
    with black_hole() as port:
        config = hung_config(port, deadline="3s")
        web = {"uri": f"ssh://ops@127.0.0.1:{port}", "expect": {"processes": ["uvicorn"]}}
        config["hosts"] = {"web-1": web}
        run = run_suite(
            "-m", "daily", f"--env={write_env(tmp_path / 'env.yaml', config)}",
            "-p", "tests.support.round_watch",
            out=tmp_path / "out", env={"OPSCHECK_ROUND_WATCH": str(watch)},
        )  # fmt: skip
    seen = json.loads(watch.read_text())
    first = next(c for c in run.results.checks if c.nodeid == seen["first"])
    assert not first.control.id.startswith("HLT"), seen  # a check that needs no round
    running = seen["running"]
    assert running.get("health") is True and running.get("hosts") is True, (seen, run.output)
    hung = [c for c in run.results.checks if c.outcome == "error"]
    assert hung and all("no answer" in c.message for c in hung), run.output


def test_a_run_stopped_by_maxfail_says_it_was_cut_short(tmp_path: Path) -> None:
    # -x stops pytest at the first error: the checks after it never ran, and the run says so
    # (summary, results, JUnit, textfile) instead of reading like a whole run.
    with black_hole() as port:
        run = daily(tmp_path, hung_config(port, deadline="2s"), "-x")
    ran = len(run.results.checks)
    assert run.results.run.interrupted == "--maxfail=1", run.output
    assert run.last_line.startswith(f"ops-check hung: INTERRUPTED by --maxfail=1 after {ran} "), (
        run.last_line
    )
    assert 'ops_run_interrupted{env="hung"} 1' in (run.run_dir / "opscheck.prom").read_text()


@pytest.mark.parametrize("strict", [False, True])
def test_undeclared_component_skips_with_its_key_or_fails_when_strict(
    tmp_path: Path, live_stack: stack.State, strict: bool
) -> None:
    config = sandbox_config(live_stack, targets={"celery": None}, strict=strict)
    result = daily(tmp_path, config).only("test_enough_celery_workers")
    assert "targets.celery is absent" in result.message
    assert result.outcome == ("error" if strict else "skipped")
