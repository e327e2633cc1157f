"""The log checks (LOG-xx, ACC-xx) fail, on real log files, for the faults they exist for."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lms_opscheck.sandbox.logs import json_line
from tests.support.logfiles import burst, db_error, failed_login, health, scanner, write
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.sshd import MISSING, SSHD, running_sshd
from tests.support.stacks import closed_port

CHECKS = ("checks/test_logs.py", "checks/test_access_logs.py")
HOUR = timedelta(hours=1)


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path / "logs"


def config(directory: Path, host: str = "local", **policy: Any) -> dict[str, Any]:
    location = {"host": host, "dir": str(directory), "pattern": "app.log"}
    return {
        "name": "selftest",
        "artifacts": {"app_logs": location, "access_logs": location},
        "policy": {"logs": policy},
    }


def run(tmp_path: Path, cfg: dict[str, Any], marker: str = "daily") -> SuiteRun:
    env_file = write_env(tmp_path / "env.yaml", cfg)
    return run_suite("-m", marker, f"--env={env_file}", *CHECKS, out=tmp_path / "out")


def test_a_clean_recent_log_passes_every_daily_log_check(
    tmp_path: Path, logs: Path, now: datetime
) -> None:
    # Half a minute off the minute: the run starts a little after ``now``, its window too.
    write(logs / "app.log", health(now - timedelta(hours=26, seconds=-30), now), mtime=now)
    result = run(tmp_path, config(logs))
    assert result.exit_code == 0, result.output
    assert len(result.checks) == 8 and {r.outcome for r in result.checks.values()} == {"passed"}
    props = result.only("test_application_log_is_being_written").properties
    assert props["control_id"] == "LOG-01"
    assert "2880" in props["evidence.lines"]  # 24 h of health checks, two lines each


@pytest.mark.parametrize(("age", "outcome"), [(2 * HOUR, "failed"), (30 * HOUR, "passed")])
def test_an_error_burst_fails_the_error_rate_only_inside_the_window(
    tmp_path: Path, logs: Path, now: datetime, age: timedelta, outcome: str
) -> None:
    write(logs / "app.log", health(now - timedelta(hours=36), now),
          burst(now - age, 40, db_error), mtime=now)  # fmt: skip
    result = run(tmp_path, config(logs)).only("test_error_lines_stay_within")
    assert result.outcome == outcome, result.message
    if outcome == "failed":
        assert f"40 error line(s) (ERROR/CRITICAL) in {logs}/app.log on local://" in result.message
        assert "busiest hour 40 from" in result.message and "(threshold 10/h)" in result.message
        assert "ERROR [app.db] pool timeout after <n>s for <email> (request <str>) x40" in (
            result.message
        )


def test_a_401_burst_and_a_path_scan_in_a_rotated_gzip_fail_the_access_review(
    tmp_path: Path, logs: Path, now: datetime
) -> None:
    attack = now - timedelta(hours=20)
    write(logs / "app.log.2.gz", health(now - timedelta(hours=30), now - timedelta(hours=12)),
          burst(attack, 30, failed_login("198.51.100.8")), burst(attack, 15, scanner("192.0.2.66")),
          mtime=now - timedelta(hours=12), gz=True)  # fmt: skip
    write(logs / "app.log.1", health(now - timedelta(hours=12), now - HOUR), mtime=now - HOUR)
    write(logs / "app.log", health(now - HOUR, now), mtime=now)
    result = run(tmp_path, config(logs))
    auth = result.only("test_no_client_bursts_authentication_failures")
    assert auth.outcome == "failed"
    assert "1 client(s) got bursts of 401/403 answers" in auth.message
    assert f"{logs}/app.log on local://" in auth.message and "198.51.100.8 30 from" in auth.message
    assert "threshold 20 per client per 1m" in auth.message
    assert "top paths: /api/v1/auth/login x30" in auth.message
    scan = result.only("test_no_client_scans_for_paths")
    assert scan.outcome == "failed"
    assert "192.0.2.66 15 requests; threshold 10 per client" in scan.message
    assert "app.log.2.gz" in auth.properties["evidence.files"]
    assert result.only("test_login_lockouts_stay").outcome == "passed"  # 1 lockout <= 5


def test_a_silent_log_fails_every_check_naming_the_window_and_the_newest_line(
    tmp_path: Path, logs: Path, now: datetime
) -> None:
    last = now - timedelta(hours=30)
    write(logs / "app.log", health(last - timedelta(hours=4), last), mtime=last)
    result = run(tmp_path, config(logs))
    assert {r.outcome for r in result.checks.values()} == {"failed"}, result.output
    message = result.only("test_no_burst_of_server_errors").message
    assert f"no lines between {now - timedelta(hours=24):%Y-%m-%d %H:%M}" in message
    assert (
        f"in {logs}/app.log on local://; newest line at {last - timedelta(minutes=1):%Y-%m-%d}"
        in (message)
    )


def test_a_pattern_matching_no_file_fails(tmp_path: Path, logs: Path, now: datetime) -> None:
    write(logs / "api.log", health(now - HOUR, now), mtime=now)
    result = run(tmp_path, config(logs))
    assert {r.outcome for r in result.checks.values()} == {"failed"}
    assert f"no log file in {logs}/app.log on local://" in result.only("test_application").message


def test_a_missing_folder_is_an_error_naming_it(tmp_path: Path, logs: Path) -> None:
    result = run(tmp_path, config(logs))
    assert {r.outcome for r in result.checks.values()} == {"error"}, result.output
    message = result.only("test_error_lines_stay_within").message
    assert "could not measure (unreadable)" in message
    assert f"{logs} on local://: cannot list" in message


def test_the_weekly_review_finds_a_scanner_the_daily_one_does_not_see(
    tmp_path: Path, logs: Path, now: datetime
) -> None:
    write(logs / "app.log", health(now - timedelta(days=8), now, timedelta(minutes=5)),
          burst(now - timedelta(days=3), 20, scanner("192.0.2.66")), mtime=now)  # fmt: skip
    result = run(tmp_path, config(logs), marker="daily or weekly")
    assert result.checks[
        "test_no_client_scans_for_paths_the_lms_does_not_serve[daily]"
    ].outcome == ("passed")
    weekly = result.checks["test_no_client_scans_for_paths_the_lms_does_not_serve[weekly]"]
    assert weekly.outcome == "failed" and "in the last 7d: 192.0.2.66 20 requests" in weekly.message


def test_json_lines_with_a_5xx_burst(tmp_path: Path, logs: Path, now: datetime) -> None:
    def failing(moment: datetime, i: int) -> list[str]:
        message = f"GET /api/v1/courses -> 503 (db down {i})"
        fields = {"http_status": 503, "client_ip": "10.9.8.7", "path": "/api/v1/courses"}
        return [json_line(moment, "ERROR", message, **fields)]

    write(logs / "app.log", burst(now - timedelta(minutes=10), 30, failing), mtime=now)
    result = run(tmp_path, config(logs, max_errors_per_hour=50, max_error_ratio=1.0))
    server = result.only("test_no_burst_of_server_errors")
    assert server.outcome == "failed"
    assert "30 answers 5xx within 1m from" in server.message
    assert "threshold 20 per 1m" in server.message and "top clients: 10.9.8.7 x30" in server.message
    assert result.only("test_error_lines_stay_within").outcome == "passed"


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Any]:
    if not SSHD.exists():
        pytest.skip(MISSING)
    with running_sshd(tmp_path / "sshd") as server:
        yield server


def test_a_401_burst_on_a_remote_host_is_read_over_ssh(
    tmp_path: Path, logs: Path, now: datetime, sshd: Any
) -> None:
    write(logs / "app.log.1.gz", health(now - timedelta(hours=30, seconds=-30), now - HOUR),
          burst(now - timedelta(hours=3), 25, failed_login("198.51.100.8")),
          mtime=now - HOUR, gz=True)  # fmt: skip
    write(logs / "app.log", health(now - HOUR + timedelta(seconds=30), now), mtime=now)
    cfg = config(logs, host="app-1")
    cfg["hosts"] = {"app-1": sshd.host()}
    result = run(tmp_path, cfg)
    auth = result.only("test_no_client_bursts_authentication_failures")
    assert auth.outcome == "failed", result.output
    assert (
        f"{logs}/app.log on {sshd.uri}" in auth.message and "198.51.100.8 25 from" in auth.message
    )
    assert result.only("test_application_log_is_being_written").outcome == "passed"
    lines = result.only("test_application_log_is_being_written").properties["evidence.lines"]
    assert lines.startswith("2930 ")  # 24 h of health checks and the burst, two lines each
    shutil.rmtree(logs)
    missing = run(tmp_path, cfg).only("test_application_log_is_being_written")
    assert missing.outcome == "error" and f"{logs} on {sshd.uri}: cannot list" in missing.message


def test_an_unreachable_log_host_is_an_error(tmp_path: Path, logs: Path, sshd: Any) -> None:
    port = closed_port()
    cfg = config(logs, host="app-1")
    cfg["hosts"] = {"app-1": {**sshd.host(), "uri": f"ssh://root@127.0.0.1:{port}"}}
    result = run(tmp_path, cfg)
    assert {r.outcome for r in result.checks.values()} == {"error"}, result.output
    assert f"ssh://root@127.0.0.1:{port}" in result.only("test_application_log").message
