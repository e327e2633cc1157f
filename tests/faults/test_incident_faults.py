"""Incident triage against real processes broken the way production breaks: a query blocked on a
lock, a long query, the application's pool full, many clients locked out in Redis, error lines
in the log, object storage down, and every target down at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import redis

from lms_opscheck.sandbox import stack
from tests.support import logfiles
from tests.support.redis_monitor import monitored
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.stacks import black_hole, closed_port, hung_config, sandbox_config

CHECKS = "checks"


def triage(
    tmp: Path,
    config: dict[str, Any],
    *keywords: str,
    marker: str = "incident",
    env: dict[str, str] | None = None,
) -> SuiteRun:
    tmp.mkdir(parents=True, exist_ok=True)
    env_file = write_env(tmp / "env.yaml", config)
    selection = ["-k", " or ".join(keywords)] if keywords else []
    return run_suite(
        "-m", marker, f"--env={env_file}", CHECKS, *selection, out=tmp / "out", env=env
    )


def lms(state: stack.State, **options: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host="127.0.0.1", port=state.pg_port, dbname="lms", user="lms",
        password=state.pg_password, **options,
    )  # fmt: skip


def result(run: SuiteRun, control: str) -> Any:
    found = [r for r in run.checks.values() if r.properties.get("control_id") == control]
    assert len(found) == 1, run.output
    return found[0]


def quietly(conn: psycopg.Connection[Any], sql: str) -> None:
    """Run ``sql`` in a thread; its end (cancelled, timed out, connection closed) is expected."""
    with suppress(psycopg.Error):
        conn.execute(sql)


# -- PostgreSQL ---------------------------------------------------------------------------------


@contextmanager
def blocked_query(state: stack.State) -> Iterator[tuple[int, int]]:
    """One session holds an exclusive lock on a table, another waits for it: (holder, waiter)."""
    with lms(state, autocommit=True) as setup:
        setup.execute("CREATE TABLE IF NOT EXISTS selftest_locks (id int)")
    holder = lms(state)
    holder.execute("LOCK TABLE selftest_locks IN ACCESS EXCLUSIVE MODE")
    waiter = lms(state, autocommit=True)
    waiter_pid = waiter.info.backend_pid
    worker = threading.Thread(
        target=quietly,
        args=(waiter, "SELECT count(*) FROM selftest_locks"),
        daemon=True,
    )
    worker.start()
    try:
        yield holder.info.backend_pid, waiter_pid
    finally:
        holder.rollback()
        worker.join(10)
        holder.close()
        waiter.close()
        with lms(state, autocommit=True) as cleanup:
            cleanup.execute("DROP TABLE IF EXISTS selftest_locks")


def test_a_query_blocked_on_a_lock_fails_naming_both_pids_its_wait_and_the_limit(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(shared_stack, incident={"max_lock_wait": "1s"})
    healthy = triage(tmp_path / "healthy", config, "INC-03")
    assert result(healthy, "INC-03").outcome == "passed", healthy.output
    with blocked_query(shared_stack) as (holder, waiter):
        time.sleep(1.5)
        run = triage(tmp_path / "blocked", config, "INC-03")
    check = result(run, "INC-03")
    assert check.outcome == "failed", run.output
    assert f"pid {waiter} (lms" in check.message
    assert f"held by pid {holder}" in check.message
    assert "longer than 1s (incident.max_lock_wait)" in check.message
    assert "Lock:relation" in check.message


def test_a_long_query_fails_the_p1_triage_naming_its_pid_age_and_level(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(
        shared_stack,
        policy={"capacity": {"long_running_query": {"warning": "500ms", "critical": "1s"}}},
    )
    with lms(shared_stack, autocommit=True) as sleeper:
        sleeper.execute("SET statement_timeout = '20s'")
        pid = sleeper.info.backend_pid
        thread = threading.Thread(
            target=quietly,
            args=(sleeper, "SELECT pg_sleep(30)"),
            daemon=True,
        )
        thread.start()
        time.sleep(1.5)
        run = triage(tmp_path, config, "CAP-05", marker="p1")
        sleeper.cancel_safe()
        thread.join(10)
    check = result(run, "CAP-05")
    assert check.outcome == "failed", run.output
    assert f"pid {pid} (lms" in check.message and "critical level is 1s" in check.message


def test_the_application_pool_full_fails_with_its_count_and_size(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(shared_stack, incident={"pool_size": 12})
    with ExitStack() as stack_:
        # The sandbox's API holds a few connections of its own; fill the rest of the pool.
        for _ in range(12):
            stack_.enter_context(lms(shared_stack, autocommit=True))
        run = triage(tmp_path, config, "INC-02")
    check = result(run, "INC-02")
    assert check.outcome == "failed", run.output
    assert "of its pools' 12" in check.message and "critical level is 95%" in check.message


def test_pool_size_absent_skips_naming_the_key(tmp_path: Path, shared_stack: stack.State) -> None:
    run = triage(tmp_path, sandbox_config(shared_stack, incident={"pool_size": None}), "INC-02")
    check = result(run, "INC-02")
    assert check.outcome == "skipped" and "incident.pool_size" in check.message


# -- Redis ----------------------------------------------------------------------------------------

LOCKOUT = "app:cache:auth:failed_attempts:ip:"


def test_many_clients_locked_out_fail_counted_by_scan_never_keys(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    password = shared_stack.redis_password or None
    config = sandbox_config(shared_stack, incident={"redis_keys": {"max_locked_out": 10}})
    with redis.Redis(port=shared_stack.redis_port, password=password) as conn:
        locked = {f"{LOCKOUT}10.0.0.{i}": 5 for i in range(12)}
        trying = {f"{LOCKOUT}10.0.1.{i}": 2 for i in range(3)}
        limits = {f"ratelimit:auth:ip:10.0.0.{i}:/api/v1/auth/login": 6 for i in range(4)}
        conn.mset({**locked, **trying, **limits})
        try:
            with monitored(shared_stack.redis_port, password) as commands:
                run = triage(tmp_path, config, "INC-04")
        finally:
            conn.delete(*locked, *trying, *limits)
    check = result(run, "INC-04")
    assert check.outcome == "failed", run.output
    assert "12 client(s) locked out" in check.message
    assert "at most 10 allowed (incident.redis_keys.max_locked_out)" in check.message
    assert "4 rate-limit key(s)" in check.message
    sent = [c for cmds in commands.values() for c in cmds]
    assert any(c.upper().startswith("SCAN ") and "failed_attempts" in c for c in sent), sent
    assert not any(c.upper().startswith("KEYS") for c in sent), sent


def test_a_scan_stopped_by_its_cap_below_the_limit_is_no_verdict(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    password = shared_stack.redis_password or None
    rules = {"max_locked_out": 10, "scan_count": 10, "max_scan_calls": 1}
    config = sandbox_config(shared_stack, incident={"redis_keys": rules})
    with redis.Redis(port=shared_stack.redis_port, password=password) as conn:
        filler = {f"selftest:filler:{i}": 1 for i in range(300)}
        conn.mset(filler)
        try:
            run = triage(tmp_path, config, "INC-04")
        finally:
            conn.delete(*filler)
    check = result(run, "INC-04")
    assert check.outcome == "error", run.output
    assert "SCAN stopped after 1 call(s)" in check.message


# -- logs -----------------------------------------------------------------------------------------


def log_config(state: stack.State, folder: Path) -> dict[str, Any]:
    return sandbox_config(
        state,
        artifacts={"app_logs": {"dir": str(folder)}},
        policy={"logs": {"incident_window": "15m"}},
    )


def test_error_lines_in_the_window_fail_newest_first_and_old_ones_do_not(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    recent, old = tmp_path / "recent", tmp_path / "old"
    quiet = logfiles.health(now - timedelta(minutes=30), now)
    logfiles.write(
        recent / "app.log",
        quiet,
        logfiles.burst(now - timedelta(minutes=5), 7, logfiles.db_error),
        mtime=now,
    )
    logfiles.write(
        old / "app.log",
        quiet,
        logfiles.burst(now - timedelta(minutes=25), 7, logfiles.db_error),
        mtime=now,
    )
    failing = triage(tmp_path / "r", log_config(shared_stack, recent), "INC-01")
    check = result(failing, "INC-01")
    assert check.outcome == "failed", failing.output
    assert "7 ERROR/CRITICAL line(s)" in check.message and "last 15m" in check.message
    assert "at most 0 allowed" in check.message
    newest = check.message.split("newest first: ", 1)[1]
    assert newest.index("pool timeout after 36s") < newest.index("pool timeout after 32s")
    passing = triage(tmp_path / "o", log_config(shared_stack, old), "INC-01")
    assert result(passing, "INC-01").outcome == "passed", passing.output


def test_an_empty_log_is_never_a_pass_of_no_errors(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    folder = tmp_path / "empty"
    logfiles.write(folder / "app.log", mtime=datetime.now(UTC))
    run = triage(tmp_path, log_config(shared_stack, folder), "INC-01")
    check = result(run, "INC-01")
    assert check.outcome == "failed", run.output
    assert "no lines between" in check.message


# -- object storage ------------------------------------------------------------------------------


class _S3(BaseHTTPRequestHandler):
    """A stand-in for an S3 endpoint: the private bucket ``lms-files`` refuses anonymous HEAD
    with 403, as S3 and MinIO do; any other bucket is 404."""

    def do_HEAD(self) -> None:
        status = 403 if self.path.rstrip("/") == "/lms-files" else 404
        self.send_response(status)
        self.send_header("Server", "selftest-s3")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def s3_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _S3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def storage(state: stack.State, endpoint: str, bucket: str = "lms-files") -> dict[str, Any]:
    return sandbox_config(
        state, incident={"object_storage": {"endpoint": endpoint, "bucket": bucket}}
    )


def test_object_storage_403_is_reachable_404_fails_and_down_is_an_error(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    with s3_endpoint() as endpoint:
        served = triage(tmp_path / "403", storage(shared_stack, endpoint), "INC-05", marker="p2")
        missing = triage(
            tmp_path / "404", storage(shared_stack, endpoint, "no-such-bucket"), "INC-05"
        )
    assert result(served, "INC-05").outcome == "passed", served.output
    check = result(missing, "INC-05")
    assert check.outcome == "failed" and "404: no such bucket" in check.message
    assert f"{endpoint}/no-such-bucket" in check.message
    refused_url = f"http://127.0.0.1:{closed_port()}"
    down = triage(tmp_path / "down", storage(shared_stack, refused_url), "INC-05")
    check = result(down, "INC-05")
    assert check.outcome == "error" and f"{refused_url}/lms-files" in check.message
    with black_hole() as port:
        hung = triage(
            tmp_path / "hung", storage(shared_stack, f"http://127.0.0.1:{port}"), "INC-05"
        )
    check = result(hung, "INC-05")
    assert check.outcome == "error" and "no answer" in check.message, hung.output


def test_no_object_storage_skips_as_not_applicable(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    run = triage(tmp_path, sandbox_config(shared_stack), "INC-05")
    check = result(run, "INC-05")
    assert check.outcome == "skipped" and "incident.object_storage is absent" in check.message


# -- everything down -------------------------------------------------------------------------------


def test_everything_down_ends_within_one_deadline_each_check_an_error_naming_its_target(
    tmp_path: Path,
) -> None:
    with black_hole() as port:
        config = hung_config(port, deadline="3s")
        config["incident"] = {
            "pool_size": 20,
            "object_storage": {"endpoint": f"http://127.0.0.1:{port}", "bucket": "lms-files"},
        }
        config["targets"]["prometheus"] = {"url": f"http://127.0.0.1:{port}"}
        # The log host and Vault are down too: their waits overlap the round's (fixtures/early).
        config["hosts"] = {"logs-1": {"uri": f"ssh://ops@127.0.0.1:{port}"}}
        config["artifacts"] = {"app_logs": {"host": "logs-1", "dir": "/var/log/lms"}}
        config["secrets_age"] = {
            "secrets": ["SECRET_KEY"],
            "vault": {"url": f"http://127.0.0.1:{port}", "token": "${LMS_VAULT_TOKEN}"},
        }
        started = time.monotonic()
        run = triage(tmp_path, config, env={"LMS_VAULT_TOKEN": "hvs.everything-down"})
        elapsed = time.monotonic() - started
    measured = {
        r.properties["control_id"]: r for r in run.checks.values() if r.outcome != "skipped"
    }
    for control in (
        *("HLT-01", "HLT-03", "HLT-04", "CAP-04", "CAP-05", "INC-02", "INC-03", "MON-01", "MON-05"),
        *("INC-01", "LOG-01", "SEC-08"),
    ):
        assert control in measured, run.output
    assert {r.outcome for r in measured.values()} == {"error"}, run.output
    for control in ("INC-02", "INC-03", "CAP-04", "HLT-03"):
        assert f"127.0.0.1:{port}" in measured[control].message, measured[control].message
    assert f"redis://127.0.0.1:{port}/0" in measured["INC-04"].message
    assert f"http://127.0.0.1:{port}/lms-files" in measured["INC-05"].message
    assert f"http://127.0.0.1:{port}" in measured["MON-01"].message
    assert f"ssh://ops@127.0.0.1:{port}" in measured["INC-01"].message, measured["INC-01"].message
    assert f"vault http://127.0.0.1:{port}" in measured["SEC-08"].message
    assert "hvs.everything-down" not in run.output
    assert any("within the run's deadline of 3s" in r.message for r in measured.values())
    # One round for every area: one deadline (3 s) plus pytest's start-up, not one per area.
    print(f"everything down: {elapsed:.1f}s for {len(measured)} checks")
    lines = run.stdout.splitlines()
    broken = [i for i, line in enumerate(lines) if line.startswith("  ERROR ")]
    assert broken and "[critical]" in lines[broken[0]], run.stdout  # the worst first
