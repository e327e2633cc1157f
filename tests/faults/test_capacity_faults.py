"""Capacity checks against real processes pushed to their levels: a full filesystem, connections
near max_connections, a long query and an idle transaction, Redis at maxmemory, a queue backlog
with the worker stopped, database growth between two runs."""

from __future__ import annotations

import json
import threading
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from celery import Celery

from lms_opscheck.sandbox import stack
from lms_opscheck.sandbox.processes import stop
from tests.support.replica import streaming_replica
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.sshd import MISSING, SSHD, running_sshd
from tests.support.stacks import sandbox_config
from tests.support.volumes import tmpfs

CHECKS = "checks/test_capacity.py"


def review(tmp: Path, config: dict[str, Any], *keywords: str, out: str = "out") -> SuiteRun:
    tmp.mkdir(parents=True, exist_ok=True)
    env_file = write_env(tmp / "env.yaml", config)
    selection = ["-k", " or ".join(keywords)] if keywords else []
    return run_suite(
        "-m", "weekly or monthly", f"--env={env_file}", CHECKS, *selection, out=tmp / out
    )


def evidence(run: SuiteRun, control: str, name: str) -> str:
    for check in run.results.checks:
        if check.control.id == control:
            return next(e.value for e in check.evidence if e.name == name)
    raise AssertionError(f"{control} has no evidence {name}")


def lms(state: stack.State) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host="127.0.0.1", port=state.pg_port, dbname="lms", user="lms",
        password=state.pg_password, autocommit=True,
    )  # fmt: skip


def test_a_healthy_stack_passes_and_growth_starts_with_the_second_run(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(shared_stack)
    first = review(tmp_path, config, out="runs/1")
    outcomes = {r.properties["control_id"]: r.outcome for r in first.checks.values()}
    assert outcomes.pop("CAP-03") == "skipped" and outcomes.pop("CAP-07") == "skipped"
    assert set(outcomes.values()) == {"passed"}, first.output
    assert "growth is measured from the second run on" in first.only("test_database_growth").message
    assert "replication lag is not applicable" in first.only("test_replication_lag").message
    second = review(tmp_path, config, "CAP-03", out="runs/2")
    growth = second.only("test_database_growth")
    assert growth.outcome == "passed", second.output
    assert evidence(second, "CAP-03", "previous_size").endswith(" bytes")
    unlimited = sandbox_config(shared_stack, policy={"capacity": {"redis_memory_limit": None}})
    redis_run = review(tmp_path / "unlimited", unlimited, "CAP-09")
    assert "runs with maxmemory 0 (unlimited) and no policy.capacity.redis_memory_limit" in (
        redis_run.only("test_redis_memory").message
    )


def test_a_volume_over_its_levels_fails_and_one_at_warning_warns(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    with ExitStack() as mounts:
        full = mounts.enter_context(tmpfs(tmp_path / "full", size="4m"))
        warm = mounts.enter_context(tmpfs(tmp_path / "warm", size="4m"))
        (full / "blob").write_bytes(b"\0" * 3_900_000)  # ~95 % of 4 MiB
        (warm / "blob").write_bytes(b"\0" * 3_500_000)  # ~83 %
        volumes = [{"name": "uploads", "path": str(full)}, {"name": "backups", "path": str(warm)}]
        run = review(tmp_path, sandbox_config(shared_stack, targets={"volumes": volumes}), "CAP-01")
    full_result = run.only("test_volume_usage_is_below_its_levels[local:uploads]")
    assert full_result.outcome == "failed", run.output
    assert f"volume uploads ({full} on local://, filesystem {full}) is 9" in full_result.message
    assert "% full: 3.7 MiB used" in full_result.message
    assert "critical level is 90%" in full_result.message
    warm_result = run.only("test_volume_usage_is_below_its_levels[local:backups]")
    assert warm_result.outcome == "passed"
    assert evidence(run, "CAP-01", "used_ratio_level") in ("warning", "critical")
    levels = [
        e.value
        for c in run.results.checks
        if c.subject == "local:backups"
        for e in c.evidence
        if e.name == "used_ratio_level"
    ]
    assert levels == ["warning"]


def test_a_remote_volume_is_measured_over_ssh(tmp_path: Path, shared_stack: stack.State) -> None:
    if not SSHD.exists():
        pytest.skip(MISSING)
    with running_sshd(tmp_path / "sshd") as sshd:
        config = sandbox_config(
            shared_stack,
            hosts={"db-1": sshd.host()},
            targets={"volumes": [{"name": "data", "path": "/", "host": "db-1"}]},
        )
        run = review(tmp_path, config, "CAP-01")
    result = run.only("test_volume_usage_is_below_its_levels[db-1:data]")
    assert result.outcome in ("passed", "failed"), run.output
    assert evidence(run, "CAP-01", "size").endswith(" bytes")
    assert sshd.uri in evidence_target(run, "CAP-01", "used")


def evidence_target(run: SuiteRun, control: str, name: str) -> str:
    for check in run.results.checks:
        for entry in check.evidence:
            if check.control.id == control and entry.name == name:
                return entry.target or ""
    return ""


def test_connections_near_max_connections_fail(tmp_path: Path, live_stack: stack.State) -> None:
    # max_connections 50, 3 reserved for superusers: applications have 47 slots.
    held = [lms(live_stack) for _ in range(44)]
    try:
        run = review(tmp_path, sandbox_config(live_stack), "CAP-04")
    finally:
        for conn in held:
            conn.close()
    result = run.only("test_database_connections")
    assert result.outcome == "failed", run.output
    assert f"postgresql://lms@127.0.0.1:{live_stack.pg_port}/lms has 4" in result.message
    assert "client connections of the 47 that max_connections 50 leaves applications" in (
        result.message
    )
    assert "critical level is 95%" in result.message


def test_a_long_query_and_an_idle_transaction_fail(tmp_path: Path, live_stack: stack.State) -> None:
    busy, idle = lms(live_stack), lms(live_stack)
    sleeper = threading.Thread(target=lambda: _quietly(busy, "SELECT pg_sleep(30)"), daemon=True)
    sleeper.start()
    idle.autocommit = False
    idle.execute("SELECT 1")  # a transaction left open
    levels = {"warning": "1s", "critical": "2s"}
    capacity = {"long_running_query": levels, "idle_in_transaction": levels}
    try:
        _wait_seconds(2.5)
        run = review(
            tmp_path, sandbox_config(live_stack, policy={"capacity": capacity}), "CAP-05", "CAP-06"
        )
    finally:
        busy.cancel_safe()
        sleeper.join(10)
        idle.rollback()
        busy.close()
        idle.close()
    long_query = run.only("test_no_query_runs_longer")
    assert long_query.outcome == "failed", run.output
    assert "the longest running query has run for" in long_query.message
    assert "(lms from 127.0.0.1/32) active for" in long_query.message
    assert "critical level is 2s" in long_query.message
    idle_result = run.only("test_no_session_idles")
    assert idle_result.outcome == "failed"
    assert "idle in transaction for" in idle_result.message


def test_sessions_the_role_cannot_see_are_not_a_pass(
    tmp_path: Path, live_stack: stack.State
) -> None:
    with live_stack.postgres.connect("lms") as admin:
        admin.execute("CREATE ROLE watcher LOGIN PASSWORD 'watcher-secret-1'")
    other = lms(live_stack)  # a session of another role, invisible to watcher
    try:
        config = sandbox_config(
            live_stack, targets={"postgres": {"user": "watcher", "password": "watcher-secret-1"}}
        )
        run = review(tmp_path, config, "CAP-05", "CAP-06")
    finally:
        other.close()
    for prefix in ("test_no_query_runs_longer", "test_no_session_idles"):
        result = run.only(prefix)
        assert result.outcome == "error", run.output
        assert "role watcher cannot read" in result.message and "pg_stat_activity" in result.message
        assert "grant it pg_monitor" in result.message


def test_wraparound_headroom_below_its_levels_fails(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    capacity = {"xid_age": {"warning": 0.00000001, "critical": 0.00000002}}
    run = review(tmp_path, sandbox_config(shared_stack, policy={"capacity": capacity}), "CAP-08")
    result = run.only("test_transaction_id_wraparound")
    assert result.outcome == "failed", run.output
    assert "transactions old (" in result.message and "of the 2^31 before wraparound" in (
        result.message
    )
    assert "critical level is 2e-06%" in result.message


def test_redis_at_maxmemory_and_evicting_fails(tmp_path: Path, live_stack: stack.State) -> None:
    client = redis.Redis(port=live_stack.redis_port, password=live_stack.redis_password)
    client.config_set("maxmemory", "4mb")
    client.config_set("maxmemory-policy", "allkeys-lru")
    pipe = client.pipeline(transaction=False)
    for n in range(1500):
        pipe.set(f"cache:course:{n}", b"x" * 8192)
    pipe.execute()
    client.close()
    run = review(tmp_path, sandbox_config(live_stack), "CAP-09", "CAP-10")
    memory = run.only("test_redis_memory")
    assert memory.outcome == "failed", run.output
    assert f"redis://127.0.0.1:{live_stack.redis_port}/0 uses" in memory.message
    assert "of maxmemory 4.0 MiB (" in memory.message and "critical level is 90%" in memory.message
    evicted = run.only("test_redis_evicted")
    assert evicted.outcome == "failed"
    assert "key(s) since its start (policy allkeys-lru); critical level is 100" in evicted.message


def test_a_queue_backlog_with_the_worker_stopped_fails(
    tmp_path: Path, live_stack: stack.State
) -> None:
    stop(live_stack.worker_pid)
    app = Celery(broker=live_stack.broker_url)
    with app.producer_or_acquire() as producer:
        for n in range(1000):
            app.send_task("app.tasks.emails.send_welcome", args=[n], queue="emails",
                          producer=producer)  # fmt: skip
    run = review(tmp_path, sandbox_config(live_stack), "CAP-11")
    result = run.only("test_celery_queues")
    assert result.outcome == "failed", run.output
    assert (
        f"Celery queue emails on redis://127.0.0.1:{live_stack.redis_port}/1 holds 1000 "
        "message(s); critical level is 1000"
    ) in result.message
    typo = sandbox_config(live_stack, policy={"capacity": {"celery_queues": ["emails", "emials"]}})
    undeclared = review(tmp_path / "typo", typo, "CAP-11").only("test_celery_queues")
    assert undeclared.outcome == "error"
    assert "queue(s) emials are not declared on this broker db (no kombu binding)" in (
        undeclared.message
    )


def test_growth_beyond_its_levels_since_the_last_run_fails(
    tmp_path: Path, live_stack: stack.State
) -> None:
    capacity = {"database_growth_per_day": {"warning": "1MiB", "critical": "2MiB"}}
    config = sandbox_config(live_stack, policy={"capacity": capacity})
    first = review(tmp_path, config, "CAP-03", out="runs/1")
    assert first.only("test_database_growth").outcome == "skipped", first.output
    with live_stack.postgres.connect("lms") as admin:
        admin.execute(
            "INSERT INTO audit_logs (actor_id, action) "
            "SELECT i, repeat('x', 2000) FROM generate_series(1, 3000) AS i"
        )
    second = review(tmp_path, config, "CAP-03", out="runs/2")
    result = second.only("test_database_growth")
    assert result.outcome == "failed", second.output
    previous = json.loads((tmp_path / "runs" / "1" / "results.json").read_text())["run"]["id"]
    assert f"since run {previous}" in result.message and "/day, now" in result.message
    assert "critical level is 2.0 MiB/day" in result.message


def _quietly(conn: psycopg.Connection[Any], statement: str) -> None:
    with suppress(psycopg.Error):  # cancelled at the end of the test
        conn.execute(statement)


def _wait_seconds(seconds: float) -> None:
    threading.Event().wait(seconds)


def test_a_replica_behind_its_levels_fails_and_the_standby_itself_skips(
    tmp_path: Path, live_stack: stack.State
) -> None:
    with streaming_replica(live_stack) as replica:
        healthy = review(tmp_path / "healthy", sandbox_config(live_stack), "CAP-07")
        assert healthy.only("test_replication_lag").outcome == "passed", healthy.output
        with replica.connect() as standby:
            standby.execute("SELECT pg_wal_replay_pause()")
        with live_stack.postgres.connect("lms") as admin:
            admin.execute(
                "INSERT INTO audit_logs (actor_id, action) "
                "SELECT i, repeat('x', 500) FROM generate_series(1, 2000) AS i"
            )
        capacity = {"replication_lag_bytes": {"warning": "64KiB", "critical": "128KiB"}}
        behind = review(
            tmp_path / "behind",
            sandbox_config(live_stack, policy={"capacity": capacity}),
            "CAP-07",
        )
        on_standby = review(
            tmp_path / "standby",
            sandbox_config(live_stack, targets={"postgres": {"port": replica.port}}),
            "CAP-07",
        )
    result = behind.only("test_replication_lag")
    assert result.outcome == "failed", behind.output
    assert f"postgresql://lms@127.0.0.1:{live_stack.pg_port}/lms: replica walreceiver" in (
        result.message
    )
    assert "bytes behind; critical level is 128.0 KiB" in result.message
    standby_result = on_standby.only("test_replication_lag")
    assert standby_result.outcome == "skipped"
    assert "is itself a standby" in standby_result.message
