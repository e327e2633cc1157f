"""The sandbox API's own log, after real requests to it, read by the access-log review."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lms_opscheck.sandbox.processes import free_port, spawn, stop, wait_until
from tests.support.runner import run_suite, write_env

CHECKS = ("checks/test_logs.py", "checks/test_access_logs.py")
CANARY = "canary-Pa55word-7f3a"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The reference API in its own process, writing the LMS's log to ``logs/app.log``."""
    port, logs = free_port(), tmp_path / "logs"
    pid = spawn(
        [sys.executable, "-m", "lms_opscheck.sandbox.api", "--port", str(port)],
        tmp_path / "api.out",
        env={"SANDBOX_API_LOG_FILE": str(logs / "app.log")},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        health = f"{url}/api/v1/health"
        wait_until(lambda: httpx.get(health, timeout=0.5).status_code == 200, 20, "API")
        yield url, logs
    finally:
        stop(pid)


def test_bad_logins_and_a_scan_against_the_real_api_fail_the_review(
    tmp_path: Path, api: tuple[str, Path]
) -> None:
    url, logs = api
    body = {"email": "student@lms.example", "password": CANARY}
    statuses = [httpx.post(f"{url}/api/v1/auth/login", json=body).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    assert httpx.get(f"{url}/.env").status_code == 404
    text = (logs / "app.log").read_text()
    assert " INFO [app.request] POST /api/v1/auth/login -> 401 (" in text
    assert "INFO:     127.0.0.1:" in text and '"POST /api/v1/auth/login HTTP/1.1" 429' in text
    assert CANARY not in text
    policy: dict[str, Any] = {
        "max_auth_failures_per_client": 4,
        "max_lockouts": 0,
        "max_scanner_requests_per_client": 0,
    }
    location = {"dir": str(logs)}
    env = write_env(tmp_path / "env.yaml", {
        "name": "selftest",
        "artifacts": {"app_logs": location, "access_logs": location},
        "policy": {"logs": policy},
    })  # fmt: skip
    result = run_suite("-m", "daily", f"--env={env}", *CHECKS, out=tmp_path / "out")
    auth = result.only("test_no_client_bursts_authentication_failures")
    assert auth.outcome == "failed", result.output
    assert "127.0.0.1 5 from" in auth.message and "threshold 4 per client per 1m" in auth.message
    lockouts = result.only("test_login_lockouts_stay_within_policy")
    assert lockouts.outcome == "failed"
    assert "1 login lockout(s)" in lockouts.message and "127.0.0.1 at" in lockouts.message
    scan = result.only("test_no_client_scans_for_paths")
    assert scan.outcome == "failed" and "127.0.0.1 1 requests" in scan.message
    for passing in ("test_application_log_is_being_written", "test_error_lines_stay_within",
                    "test_no_storm_of_rate_limited", "test_no_scanner_path_is_served",
                    "test_no_burst_of_server_errors"):  # fmt: skip
        assert result.only(passing).outcome == "passed", result.only(passing).message
