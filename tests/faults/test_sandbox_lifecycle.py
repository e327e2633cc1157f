"""`pytest --env sandbox` runs share the sandbox: they stop only what a run started, when the last
one leaves, and never restart what someone stopped on purpose."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import redis

from lms_opscheck.config.model import CeleryTarget, RedisTarget, Timeouts
from lms_opscheck.probes.celery_ping import ping_workers
from lms_opscheck.sandbox import faults, leases, stack
from lms_opscheck.sandbox.state import CACHE
from tests.support.runner import REPO, SuiteRun, read_junit
from tests.support.stacks import isolated_stack, private_root


@pytest.fixture
def root() -> Iterator[Path]:
    """A private sandbox folder; whatever runs in it is stopped at the end, even on failure."""
    with private_root() as folder:
        try:
            yield folder
        finally:
            stack.down(folder)


@dataclass
class Run:
    """A real `pytest -m daily --env sandbox` in a subprocess, against the sandbox in ``root``."""

    process: subprocess.Popen[str]
    out: Path
    gate: Path | None

    @classmethod
    def start(cls, root: Path, out: Path, gate: Path | None = None) -> Run:
        env = {
            **os.environ,
            "LMS_OPSCHECK_SANDBOX_DIR": str(root),
            "LMS_OPSCHECK_SANDBOX_CACHE": str(CACHE),  # reuse the binaries and template cluster
        }
        plugin: list[str] = []
        if gate is not None:
            env["OPSCHECK_GATE"] = str(gate)
            plugin = ["-p", "tests.support.gate"]
        command = [
            *(sys.executable, "-m", "pytest", f"--rootdir={REPO}"),
            *(f"--config-file={REPO / 'pyproject.toml'}", f"--out={out}"),
            *("-m", "daily", "--env", "sandbox", *plugin),
        ]
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        return cls(process, out, gate)

    def wait_at_gate(self) -> None:
        """Until the run has joined the sandbox and waits before measuring."""
        assert self.gate is not None
        deadline = time.monotonic() + 90
        while not Path(f"{self.gate}.reached").exists():
            assert self.process.poll() is None, self.process.communicate()
            assert time.monotonic() < deadline, "the run never reached its gate"
            time.sleep(0.05)

    def finish(self, timeout: float = 120) -> SuiteRun:
        if self.gate is not None:
            self.gate.touch()
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.communicate()
        junit = self.out / "junit.xml"
        checks = read_junit(junit) if junit.exists() else {}
        return SuiteRun(self.process.returncode, stdout, stderr, self.out, checks)


def run_daily(root: Path, out: Path) -> SuiteRun:
    return Run.start(root, out).finish()


def health(root: Path) -> dict[str, bool]:
    state = stack.load_state(root)
    assert state is not None
    return state.health()


def all_passed(run: SuiteRun) -> bool:
    outcomes = {r.outcome for r in run.checks.values()}
    return run.exit_code == 0 and bool(run.checks) and outcomes <= {"passed", "skipped"}


def test_overlapping_runs_both_pass_and_the_last_one_out_stops_the_stack(
    tmp_path: Path, root: Path
) -> None:
    """Issue 9 item 6: the run that booted the sandbox must not stop it under another run."""
    first = Run.start(root, tmp_path / "first", gate=tmp_path / "first-gate")
    second: Run | None = None
    try:
        first.wait_at_gate()
        assert all(health(root).values()), "the first run booted the stack"
        second = Run.start(root, tmp_path / "second", gate=tmp_path / "second-gate")
        second.wait_at_gate()
        assert len(leases.holders(root)) == 2

        booter = first.finish()  # measures and leaves while the second run still holds a lease
        assert all_passed(booter), booter.output
        assert all(health(root).values()), "the booting run stopped the stack under another run"

        last = second.finish()
        assert all_passed(last), last.output
        assert len(last.checks) >= 5
    finally:
        for run in (first, second):
            if run is not None and run.process.poll() is None:
                run.finish()
    assert not any(health(root).values()), "the last run out left the run-booted stack running"
    assert leases.holders(root) == []


def test_a_run_killed_mid_way_does_not_keep_the_stack_up(tmp_path: Path, root: Path) -> None:
    crashed = Run.start(root, tmp_path / "crashed", gate=tmp_path / "gate")
    try:
        crashed.wait_at_gate()
        crashed.process.send_signal(signal.SIGKILL)  # no unconfigure: its lease file stays
        crashed.process.communicate(timeout=30)
    finally:
        if crashed.process.poll() is None:
            crashed.process.kill()
    assert list((root / "leases").glob("*.json")), "the killed run left its lease file"
    assert all(health(root).values())

    run = run_daily(root, tmp_path / "next")
    assert all_passed(run), run.output
    assert not any(health(root).values()), "a dead run's lease kept the stack running"


def test_a_stack_started_with_up_is_still_running_after_a_run(tmp_path: Path, root: Path) -> None:
    with isolated_stack(root):
        before = stack.load_state(root)
        run = run_daily(root, tmp_path / "out")
        assert all_passed(run), run.output
        after = stack.load_state(root)
        assert before is not None and after is not None
        assert all(after.health().values()), "a run stopped a stack started with up"
        assert (after.api_pid, after.worker_pid) == (before.api_pid, before.worker_pid)
        assert after.started_by == "up"


def test_a_stopped_worker_stays_stopped_after_a_run_which_says_so(
    tmp_path: Path, root: Path
) -> None:
    with isolated_stack(root):
        assert faults.stop(root, "worker") == ["worker"]
        run = run_daily(root, tmp_path / "out")
        workers = run.only("test_enough_celery_workers")
        assert workers.outcome == "failed", run.output
        assert "0 Celery worker(s) answered ping" in workers.message
        notice = [line for line in run.output.splitlines() if line.startswith("sandbox: ")]
        assert notice == [
            "sandbox: worker not running, left as found (start with: lms-opscheck-sandbox up)"
        ], run.output
        assert health(root) == {"postgres": True, "redis": True, "api": True, "worker": False}

        stack.up(root)  # what the line tells the owner to run
        assert all(health(root).values())


def test_a_run_reports_fault_switches_in_force(tmp_path: Path, root: Path) -> None:
    with isolated_stack(root):
        faults.api_500(root)
        run = run_daily(root, tmp_path / "out")
        assert run.only("test_api_replica_answers_liveness").outcome == "failed"
        assert (
            "sandbox: faults in force: api-500 on (clear with: lms-opscheck-sandbox fault clear)"
            in run.output.splitlines()
        ), run.output


def _node_names(state: stack.State) -> tuple[str, ...]:
    broker = RedisTarget(
        host="127.0.0.1", port=state.redis_port, db=1, password=state.redis_password or None
    )
    target = CeleryTarget(broker=broker, app="lms_opscheck.sandbox.worker.celery_app")
    timeouts = Timeouts(connect=timedelta(seconds=2), request=timedelta(seconds=2))
    return ping_workers(target, timeouts, timedelta(seconds=5)).workers


def _answers_anonymous_ping(state: stack.State) -> bool:
    client = redis.Redis(port=state.redis_port, socket_timeout=2, socket_connect_timeout=2)
    with client:
        try:
            return bool(client.ping())
        except redis.AuthenticationError:
            return False


def test_both_real_layouts_and_the_health_checks_find_the_worker_in_each(
    tmp_path: Path, root: Path
) -> None:
    """Hardened: a named worker and requirepass. The LMS's compose: celery@<host>, no password."""
    with isolated_stack(root, worker_name="lms-worker@%h", redis_auth="required") as state:
        assert not _answers_anonymous_ping(state)
        assert [name.split("@")[0] for name in _node_names(state)] == ["lms-worker"]
        hardened = run_daily(root, tmp_path / "hardened")
        assert all_passed(hardened), hardened.output

        state, restarted = stack.up(root, worker_name="", redis_auth="none")
        assert restarted and state.redis_password == ""
        assert stack.load_state(root) == state  # the layout is kept in state.json
        assert _answers_anonymous_ping(state)
        assert _node_names(state) == (state.worker_node_name,)
        assert state.worker_node_name.startswith("celery@")
        compose = run_daily(root, tmp_path / "compose")
        # environments/sandbox.yaml loads with no Redis password and every check measures;
        # with no worker_prefix the default-named worker counts.
        assert compose.exit_code in (0, 1), compose.output
        assert not [r for r in compose.checks.values() if r.outcome == "error"], compose.output
        assert compose.only("test_enough_celery_workers").outcome == "passed", compose.output


def dry_run(root: Path, out: Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LMS_OPSCHECK_SANDBOX_DIR": str(root)}
    command = [
        *(sys.executable, "-m", "pytest", f"--rootdir={REPO}"),
        *(f"--config-file={REPO / 'pyproject.toml'}", f"--out={out}"),
        *("-m", "daily", "--env", "sandbox", *options),
    ]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_dry_runs_list_the_sandbox_checks_without_booting_joining_or_a_verdict(
    tmp_path: Path, root: Path
) -> None:
    never = dry_run(root, tmp_path / "never", "--collect-only", "-q")
    assert never.returncode == 4, never.stdout + never.stderr
    assert "sandbox: it has not run in" in never.stderr and "Traceback" not in never.stderr
    assert stack.load_state(root) is None  # nothing booted to find out

    with isolated_stack(root):
        listed = dry_run(root, tmp_path / "listed", "--collect-only", "-q")
        assert listed.returncode == 0 and "tests collected" in listed.stdout, listed.stderr
        assert leases.holders(root) == []  # listing does not join the stack
    # Stopped now: a listing reads the ports and passwords of its last state, boots nothing.
    listed = dry_run(root, tmp_path / "stopped", "--collect-only", "-q")
    assert listed.returncode == 0 and not (tmp_path / "stopped").exists(), listed.stderr
    # --setup-plan and --setup-only report every check "passed" without running it; --fixtures
    # and --markers list: no verdict, no run folder, no results claim what nobody judged.
    for option in ("--setup-plan", "--setup-only", "--fixtures", "--markers"):
        out = tmp_path / option.strip("-")
        run = dry_run(root, out, option, "-q")
        assert "ops-check" not in run.stdout and "Traceback" not in run.stderr, run.stdout
        assert run.returncode in (0, 1) and not out.exists(), (option, run.returncode)
    assert "SETUP" in dry_run(root, tmp_path / "plan", "--setup-plan").stdout
    assert not any(health(root).values())  # nothing booted
