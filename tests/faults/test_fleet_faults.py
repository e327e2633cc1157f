"""Fleets: hundreds of real replicas measured together, never a false result."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tests.support.fleet import fleet
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.stacks import closed_port

#: HLT-01 liveness, HLT-06 latency, HLT-02 readiness, HLT-10 metrics.
CHECKS_PER_REPLICA = 4


def api_checks(tmp_path: Path, replicas: list[str]) -> SuiteRun:
    config = {
        "name": "fleet",
        "timeouts": {"connect": "2s", "request": "2s", "deadline": "4s"},
        "targets": {"api": {"replicas": replicas}},
    }
    env = write_env(tmp_path / "env.yaml", config)
    return run_suite("-m", "daily", "-k", "api_replica", f"--env={env}", out=tmp_path / "out")


def test_two_hundred_healthy_replicas_all_pass(tmp_path: Path) -> None:
    with fleet(200) as ports:
        run = api_checks(tmp_path, [f"http://127.0.0.1:{port}" for port in ports])
    outcomes = Counter(result.outcome for result in run.checks.values())
    assert outcomes == {"passed": 200 * CHECKS_PER_REPLICA}, run.output
    assert run.exit_code == 0


def test_one_replica_down_among_many_is_the_only_error(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    with fleet(60) as ports:
        replicas = [f"http://127.0.0.1:{port}" for port in ports]
        run = api_checks(tmp_path, [*replicas[:30], down, *replicas[30:]])
    bad = {name: r for name, r in run.checks.items() if r.outcome != "passed"}
    assert len(run.checks) == 61 * CHECKS_PER_REPLICA
    assert len(bad) == CHECKS_PER_REPLICA, sorted(bad)
    for name, result in bad.items():
        assert name.endswith(f"[{down}]")
        assert result.outcome == "error"
        assert "cannot connect (Connection refused)" in result.message
    assert run.exit_code == 1
