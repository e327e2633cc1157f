"""Every documented fault switch breaks a real sandbox as it says, from Python and from the CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import redis

from lms_opscheck.sandbox import faults, stack
from lms_opscheck.sandbox.faults import Fault
from lms_opscheck.sandbox.processes import port_accepts
from tests.support.stacks import isolated_stack, private_root


@pytest.fixture(scope="module")
def sandbox() -> Iterator[stack.State]:
    with private_root() as root, isolated_stack(root) as state:
        yield state


@pytest.fixture
def healthy(sandbox: stack.State) -> stack.State:
    """The module's sandbox with every fault cleared and every component running."""
    faults.clear(sandbox.dir)
    state, _ = stack.up(sandbox.dir)
    assert faults.active(sandbox.dir) == []
    return state


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lms_opscheck.sandbox", *args, "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def get(state: stack.State, path: str, timeout: float = 3) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{state.api_port}{path}", timeout=timeout)


def redis_client(state: stack.State) -> redis.Redis:
    return redis.Redis(
        port=state.redis_port,
        password=state.redis_password or None,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        retry=None,
    )


def test_api_500_from_the_cli_and_listed_until_switched_off(healthy: stack.State) -> None:
    root = healthy.dir
    assert cli(root, "fault", "api-500", "on").returncode == 0
    assert get(healthy, "/api/v1/health").status_code == 500
    listed = cli(root, "fault", "list")
    assert listed.stdout.splitlines() == ["api-500 on"]
    assert cli(root, "fault", "api-500", "off").returncode == 0
    assert get(healthy, "/api/v1/health").status_code == 200
    assert cli(root, "fault", "list").stdout.strip() == "no fault in force"


def test_api_slow_delays_every_answer(healthy: stack.State) -> None:
    faults.api_slow(healthy.dir, timedelta(milliseconds=300))
    assert faults.active(healthy.dir) == [Fault("api-slow", "300ms")]
    started = time.monotonic()
    assert get(healthy, "/api/v1/health").status_code == 200
    assert time.monotonic() - started >= 0.3  # the fault's floor, not a speed assertion
    assert cli(healthy.dir, "fault", "api-slow", "off").returncode == 0
    assert faults.active(healthy.dir) == []


def test_ready_degraded_reports_the_named_dependency_down_while_it_runs(
    healthy: stack.State,
) -> None:
    assert cli(healthy.dir, "fault", "ready-degraded", "database").returncode == 0
    answer = get(healthy, "/api/v1/ready")
    assert answer.status_code == 503
    assert answer.json() == {"status": "degraded", "database": "down", "redis": "up"}
    assert redis_client(healthy).ping()  # Redis itself is fine
    faults.ready_degraded(healthy.dir, None)
    assert get(healthy, "/api/v1/ready").status_code == 200


def test_hang_accepts_connections_and_never_answers_until_cleared(healthy: stack.State) -> None:
    assert cli(healthy.dir, "fault", "hang", "redis").returncode == 0
    assert port_accepts(healthy.redis_port)
    with pytest.raises(redis.TimeoutError):
        redis_client(healthy).ping()
    status = cli(healthy.dir, "status")
    assert status.returncode == 3
    assert "  redis    hung" in status.stdout
    assert faults.clear(healthy.dir) == [Fault("hang", "redis")]
    assert redis_client(healthy).ping()


@pytest.mark.parametrize("component", ["postgres", "redis", "api", "worker"])
def test_stop_keeps_a_component_stopped_until_start(healthy: stack.State, component: str) -> None:
    stopped = cli(healthy.dir, "stop", component)
    assert stopped.returncode == 0 and stopped.stdout.startswith(f"stopped: {component}\n")
    assert stack.load_state(healthy.dir).status()[component] == "stopped"  # type: ignore[union-attr]
    assert faults.active(healthy.dir) == [Fault("stop", component)]
    assert faults.clear(healthy.dir) == []  # clearing switches does not start anything
    assert cli(healthy.dir, "status").returncode == 3
    assert cli(healthy.dir, "start", component).stdout == f"started: {component}\n"
    after = stack.load_state(healthy.dir)
    assert after is not None and set(after.status().values()) == {"running"}
    assert (after.api_port, after.redis_port) == (healthy.api_port, healthy.redis_port)


def test_bad_input_is_one_line_and_exit_4(healthy: stack.State, tmp_path: Path) -> None:
    cases = {
        ("stop", "mailer"): "invalid choice: 'mailer'",
        ("fault", "api-slow", "300"): "'300' is not a delay with a unit, e.g. 300ms or 2s",
        ("fault", "api-slow", "soon"): "api-slow: 'soon' is not a delay",
        ("fault", "shake"): "invalid choice: 'shake'",
        ("up", "--redis-auth", "maybe"): "invalid choice: 'maybe'",
    }
    for args, expected in cases.items():
        result = cli(healthy.dir, *args)
        assert result.returncode == 4, (args, result)
        assert expected in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
    missing = cli(tmp_path / "nothing-here", "fault", "api-500", "on")
    assert (missing.returncode, missing.stderr.count("\n")) == (4, 1)
    assert "no sandbox in" in missing.stderr and "lms-opscheck-sandbox up" in missing.stderr
