"""The restore-drill checks fail, on real PostgreSQL and real pg_dump output, when they should.

Drill logs come in two formats: the suite's own (written by real drills here) and the LMS
script's PowerShell transcripts (tests.support.transcripts, shaped like the real ones).
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes.drill_log import parse_drill_log
from lms_opscheck.probes.drill_safety import DrillRefused, refuse_unsafe
from lms_opscheck.probes.errors import MeasurementError, Unreadable
from lms_opscheck.probes.restore_drill import DrillRequest, run_restore_drill
from lms_opscheck.sandbox import stack
from lms_opscheck.sandbox.artifacts import pg_dump, run_drill
from tests.support.backup_sets import gpg
from tests.support.runner import REPO, SuiteRun, run_suite, write_env
from tests.support.stacks import closed_port, sandbox_config
from tests.support.transcripts import transcript, windows

CHECKS = "checks/test_restore_drill.py"
FEW_TABLES = "Restore validation failed: expected at least 8 tables, got 3"


def superuser(state: stack.State) -> PostgresTarget:
    return PostgresTarget(
        host="127.0.0.1",
        port=state.pg_port,
        dbname="postgres",
        user="postgres",
        password=state.pg_superuser_password,  # type: ignore[arg-type]
        sslmode="disable",
    )


def scratch_databases(state: stack.State) -> list[str]:
    """What pg_database lists under the drill's prefix: the proof that nothing was left behind."""
    with state.postgres.connect() as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'lms\\_restore\\_drill\\_%'"
        ).fetchall()
    return [str(row[0]) for row in rows]


@pytest.fixture(scope="module")
def dumps(shared_stack: stack.State, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real pg_dump output: the stack's backup, a 3-table database, a truncated and a plain dump."""
    folder = tmp_path_factory.mktemp("dumps")
    good = sorted((shared_stack.dir / "backups" / "db").glob("lms_*.dump"))[-1]
    server = shared_stack.postgres
    with server.connect() as conn:
        conn.execute("CREATE DATABASE few_tables")
    with server.connect("few_tables") as conn:
        conn.execute("CREATE TABLE alembic_version (version_num varchar(64) PRIMARY KEY)")
        conn.execute(
            "INSERT INTO alembic_version VALUES ('0013_add_missing_course_lesson_columns')"
        )
        for name in ("users", "courses"):
            conn.execute(f"CREATE TABLE {name} (id int)")
            conn.execute(f"INSERT INTO {name} VALUES (1)")
    pg_dump(server, "few_tables", folder / "few.dump")
    truncated = folder / "truncated.dump"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    plain = folder / "plain.sql"
    pg_dump(server, "lms", plain, "-Fp")
    return {"good": good, "few": folder / "few.dump", "truncated": truncated, "plain": plain}


@pytest.fixture(scope="module")
def suite_logs(
    shared_stack: stack.State, dumps: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, bytes]:
    """The suite's own logs of real drills: one of the good dump, one of the 3-table dump."""
    made = {}
    for kind, dump in (("success", dumps["good"]), ("few", dumps["few"])):
        folder = tmp_path_factory.mktemp(kind)
        made[kind] = run_drill(shared_stack.postgres, dump, folder, 8).read_bytes()
    text = made["success"].decode()
    made["half"] = text[: text.index("step: pg_restore finished")].encode()
    return made


def lms_transcript(age: timedelta, **kwargs: object) -> bytes:
    """The LMS script's transcript of a drill that started ``age`` ago (host in UTC)."""
    started = datetime.now(UTC) - age
    return transcript(started, ended=started + timedelta(seconds=45), **kwargs).encode()  # type: ignore[arg-type]


def weekly(
    tmp_path: Path, state: stack.State, logs: dict[timedelta, bytes], **overrides: object
) -> SuiteRun:
    """Run the weekly drill checks over a drill-log folder holding ``logs`` (age -> content)."""
    folder = tmp_path / "drill_logs"
    folder.mkdir(parents=True)
    now = datetime.now(UTC)
    for age, content in logs.items():
        (folder / f"restore_drill_{now - age:%Y%m%d_%H%M%S}.log").write_bytes(content)
    artifacts = {"drill_logs": {"dir": str(folder), **overrides.pop("drill_logs", {})}}  # type: ignore[dict-item]
    config = sandbox_config(state, artifacts=artifacts, **overrides)
    env_file = write_env(tmp_path / "env.yaml", config)
    return run_suite("-m", "weekly", f"--env={env_file}", CHECKS, out=tmp_path / "out")


def drill(tmp_path: Path, config: dict[str, object]) -> SuiteRun:
    env_file = write_env(tmp_path / "env.yaml", config)
    return run_suite("-m", "drill", f"--env={env_file}", CHECKS, out=tmp_path / "out")


DAY = timedelta(days=1)


def test_fresh_sandbox_passes_weekly_and_active_drill_leaving_no_scratch(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    env_file = write_env(tmp_path / "env.yaml", sandbox_config(shared_stack))
    run = run_suite("-m", "weekly or drill", f"--env={env_file}", CHECKS, out=tmp_path / "out")
    assert run.exit_code == 0, run.output
    assert len(run.checks) == 14 and {r.outcome for r in run.checks.values()} == {"passed"}
    assert scratch_databases(shared_stack) == []
    assert (
        "lms_restore_drill_"
        in run.only("test_newest_backup_restores").properties["evidence.scratch"]
    )


@pytest.mark.parametrize("encode", [bytes, windows], ids=["utf8-lf", "utf16-crlf"])
def test_failed_validation_transcript_fails_quoting_its_error_line(
    tmp_path: Path, shared_stack: stack.State, encode: object
) -> None:
    text = transcript(datetime.now(UTC) - DAY, ended=datetime.now(UTC), error=FEW_TABLES)
    run = weekly(tmp_path, shared_stack, {DAY: encode(text.encode() if encode is bytes else text)})  # type: ignore[operator]
    result = run.only("test_the_latest_restore_drill_completed")
    assert result.outcome == "failed"
    assert f"failed: '{FEW_TABLES}" in result.message and "restore_drill_" in result.message
    tables = run.only("test_the_latest_drill_restored_at_least")
    assert tables.outcome == "failed" and "saw 3 tables; minimum is 8" in tables.message
    assert run.only("test_a_restore_drill_ran_within").outcome == "passed"


def test_suites_log_of_a_three_table_dump_fails_the_table_count_only(
    tmp_path: Path, shared_stack: stack.State, suite_logs: dict[str, bytes]
) -> None:
    run = weekly(tmp_path, shared_stack, {DAY: suite_logs["few"]})
    tables = run.only("test_the_latest_drill_restored_at_least")
    assert tables.outcome == "failed" and "saw 3 tables; minimum is 8" in tables.message
    # pg_restore itself succeeded: the log says so, and DRL-02 does not repeat DRL-03.
    assert run.only("test_the_latest_restore_drill_completed").outcome == "passed"


@pytest.mark.parametrize("kind", ["lms-transcript", "suite-log"])
def test_successful_drill_logs_pass(
    tmp_path: Path, shared_stack: stack.State, suite_logs: dict[str, bytes], kind: str
) -> None:
    raw = (
        windows(lms_transcript(DAY).decode()) if kind == "lms-transcript" else suite_logs["success"]
    )
    run = weekly(tmp_path, shared_stack, {DAY: raw})
    assert_green_but_retention(run)


def assert_green_but_retention(run: SuiteRun) -> None:
    """Every weekly drill check passes; a single log cannot cover the 90-day retention."""
    __tracebackhide__ = True
    retention = run.only("test_drill_logs_are_kept")
    assert retention.outcome == "failed" and "(1 kept)" in retention.message, run.output
    others = {n: r.outcome for n, r in run.checks.items() if not n.startswith("test_drill_logs")}
    assert set(others.values()) == {"passed"} and len(others) == 5, run.output


@pytest.mark.parametrize("kind", ["lms-transcript", "suite-log"])
def test_drill_log_stopped_half_way_fails_naming_the_last_step(
    tmp_path: Path, shared_stack: stack.State, suite_logs: dict[str, bytes], kind: str
) -> None:
    if kind == "lms-transcript":
        full = lms_transcript(DAY).decode()
        raw = windows(full[: full.index("==> Running restore validation")])
        step = "Restoring backup into drill database"
    else:
        raw, step = suite_logs["half"], "pg_restore started ("
    run = weekly(tmp_path, shared_stack, {DAY: raw})
    result = run.only("test_the_latest_restore_drill_completed")
    assert result.outcome == "failed"
    assert f"stops after step '{step}" in result.message and "(truncated)" in result.message
    duration = run.only("test_the_latest_drill_finished_within_the_rto")
    assert duration.outcome == "failed" and "has no start and end time" in duration.message


def test_stale_drill_log_fails_with_its_age_and_the_interval(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    run = weekly(tmp_path, shared_stack, {10 * DAY: lms_transcript(10 * DAY)})
    result = run.only("test_a_restore_drill_ran_within")
    assert result.outcome == "failed"
    assert "old) in " in result.message and "10d" in result.message
    assert "drills run every 7d (+1d grace)" in result.message


def test_drill_over_the_rto_fails_with_duration_and_rto(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    run = weekly(tmp_path, shared_stack, {DAY: lms_transcript(DAY)}, policy={"rto": "30s"})
    result = run.only("test_the_latest_drill_finished_within_the_rto")
    assert result.outcome == "failed"
    assert " took 45s; RTO is 30s" in result.message


def test_drill_logs_kept_too_briefly_fail_retention(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    logs = {d * DAY: lms_transcript(d * DAY) for d in (1, 8, 15)}
    result = weekly(tmp_path, shared_stack, logs).only("test_drill_logs_are_kept")
    assert result.outcome == "failed"
    assert "is 15d old (3 kept); retention is 90d, so one at least 82d old" in result.message


def test_empty_drill_log_folder_fails_freshness_and_retention_even_when_short(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    # A 5-day retention makes the age floor 0: an empty folder must still not pass.
    run = weekly(tmp_path, shared_stack, {}, policy={"drill_log_retention": "5d"})
    assert "no restore-drill log in" in run.only("test_a_restore_drill_ran_within").message
    kept = run.only("test_drill_logs_are_kept")
    assert kept.outcome == "failed"
    assert "no drill log in " in kept.message and "(0 examined); retention is 5d" in kept.message


@pytest.mark.parametrize("kind", ["lms-transcript", "suite-log"])
def test_a_drill_that_restored_last_years_backup_fails(
    tmp_path: Path, shared_stack: stack.State, dumps: dict[str, Path], kind: str
) -> None:
    old = f"lms_{datetime.now(UTC) - timedelta(days=365):%Y%m%d}_020000.dump"
    if kind == "lms-transcript":
        raw = lms_transcript(DAY, backup=f"C:\\lms\\backups\\db\\{old}")
    else:
        copy = tmp_path / "old" / old
        copy.parent.mkdir()
        copy.write_bytes(dumps["good"].read_bytes())
        raw = run_drill(shared_stack.postgres, copy, tmp_path / "old_logs", 8).read_bytes()
    run = weekly(tmp_path, shared_stack, {DAY: raw})
    result = run.only("test_the_latest_drill_restored_a_current")
    assert result.outcome == "failed", run.output
    assert f"restored {old}, 36" in result.message  # 364d or 365d older than the newest backup
    assert "older than the newest backup at drill time, lms_" in result.message
    assert "at most the RPO (1d) is allowed" in result.message
    assert run.only("test_the_latest_restore_drill_completed").outcome == "passed"


def test_drill_logs_from_a_utc_plus_2_host_pass_with_the_zone_configured(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    zone = ZoneInfo("Europe/Kaliningrad")
    started = datetime.now(zone) - DAY
    folder_name = f"restore_drill_{started:%Y%m%d_%H%M%S}.log"
    text = transcript(started, ended=started + timedelta(seconds=45))
    run = weekly_named(tmp_path, shared_stack, {folder_name: text.encode()}, "Europe/Kaliningrad")
    assert_green_but_retention(run)
    started = datetime.now(zone)  # a drill that just ran, read as UTC: 2h in the future
    name = f"restore_drill_{started:%Y%m%d_%H%M%S}.log"
    text = transcript(started, ended=started + timedelta(seconds=45))
    wrong = weekly_named(tmp_path / "utc", shared_stack, {name: text.encode()}, "UTC")
    message = wrong.only("test_a_restore_drill_ran_within").message
    assert "dated in the future" in message
    assert "their names read as local time UTC+2 (e.g. Europe/" in message
    assert "set artifacts.drill_logs.timezone" in message


def weekly_named(tmp_path: Path, state: stack.State, logs: dict[str, bytes], zone: str) -> SuiteRun:
    folder = tmp_path / "drill_logs"
    folder.mkdir(parents=True)
    for name, content in logs.items():
        (folder / name).write_bytes(content)
    drill_logs = {"dir": str(folder), "timezone": zone}
    config = sandbox_config(state, artifacts={"drill_logs": drill_logs})
    env_file = write_env(tmp_path / "env.yaml", config)
    return run_suite("-m", "weekly", f"--env={env_file}", CHECKS, out=tmp_path / "out")


@pytest.mark.parametrize(
    ("kind", "quoted"),
    [
        ("truncated", "pg_restore failed: pg_restore: error:"),
        ("plain", "input file appears to be a text format dump"),
    ],
)
def test_bad_dump_fails_the_drill_drops_the_scratch_and_logs_the_failure(
    tmp_path: Path, shared_stack: stack.State, dumps: dict[str, Path], kind: str, quoted: str
) -> None:
    backups, logs = tmp_path / "backups", tmp_path / "drill_logs"
    backups.mkdir()
    (backups / f"lms_{datetime.now(UTC):%Y%m%d_%H%M%S}.dump").write_bytes(dumps[kind].read_bytes())
    artifacts = {"backups": {"dir": str(backups)}, "drill_logs": {"dir": str(logs)}}
    run = drill(tmp_path, sandbox_config(shared_stack, artifacts=artifacts))
    result = run.only("test_newest_backup_restores")
    assert result.outcome == "failed" and quoted in result.message, run.output
    assert "lms_restore_drill_" in result.message and f"127.0.0.1:{shared_stack.pg_port}" in (
        result.message
    )
    assert run.only("test_scratch_database_is_dropped").outcome == "passed"
    assert scratch_databases(shared_stack) == []
    (log,) = logs.glob("restore_drill_*.log")
    assert not parse_drill_log(log.read_bytes()).succeeded
    review = weekly(tmp_path / "review", shared_stack, {DAY: log.read_bytes()})
    assert quoted in review.only("test_the_latest_restore_drill_completed").message


def test_drill_on_the_production_server_is_refused_and_creates_nothing(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    logs = tmp_path / "drill_logs"
    config = sandbox_config(
        shared_stack,
        restore_drill={"allow_production_server": False},
        artifacts={"drill_logs": {"dir": str(logs)}},
    )
    run = drill(tmp_path, config)
    assert {r.outcome for r in run.checks.values()} == {"error"}, run.output
    message = run.only("test_newest_backup_restores").message
    assert "restore drill refused" in message and "production server" in message
    assert f"127.0.0.1:{shared_stack.pg_port}" in message
    assert scratch_databases(shared_stack) == [] and not logs.exists()


def test_scratch_name_that_is_not_a_drill_database_is_refused() -> None:
    target = PostgresTarget(host="127.0.0.1", port=5432, dbname="lms")
    with pytest.raises(DrillRefused, match="not a lms_restore_drill_"):
        refuse_unsafe(target, "lms", target, allow_production_server=True)


def test_production_environment_without_a_declared_source_is_refused() -> None:
    drill_server = PostgresTarget(host="127.0.0.1", port=5432, dbname="postgres")
    scratch = "lms_restore_drill_20260101_000000"
    with pytest.raises(DrillRefused, match=r"declares no targets\.postgres"):
        refuse_unsafe(drill_server, scratch, None, False, production_environment=True)
    refuse_unsafe(drill_server, scratch, None, True, production_environment=True)  # allowed
    refuse_unsafe(drill_server, scratch, None, False, production_environment=False)


def test_existing_scratch_name_is_refused_and_left_untouched(
    tmp_path: Path, shared_stack: stack.State, dumps: dict[str, Path]
) -> None:
    name = "lms_restore_drill_20260101_000000"
    with shared_stack.postgres.connect() as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        with shared_stack.postgres.connect(name) as conn:
            conn.execute("CREATE TABLE precious (id int)")
        request = _request(shared_stack, dumps["good"], tmp_path, scratch=name)
        with pytest.raises(DrillRefused, match="already exists"):
            run_restore_drill(request)
        with shared_stack.postgres.connect(name) as conn:
            assert conn.execute("SELECT to_regclass('precious') IS NOT NULL").fetchone() == (True,)
        assert not list(tmp_path.glob("*.log"))
    finally:
        with shared_stack.postgres.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")


def _request(state: stack.State, backup: Path, logs: Path, **kwargs: object) -> DrillRequest:
    settings: dict[str, object] = {
        "pg_restore": state.postgres.tool("pg_restore"),
        "allow_production_server": True,
        **kwargs,
    }
    return DrillRequest(
        server=superuser(state),
        backup=backup,
        log_dir=logs,
        min_tables=8,
        rto=timedelta(minutes=5),
        timeouts=Timeouts(),
        **settings,  # type: ignore[arg-type]
    )


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Drill processes a test starts; killed at the end even when the test fails early."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait(10)


def start_drill(tmp_path: Path, request: DrillRequest) -> subprocess.Popen[bytes]:
    """run_restore_drill in a process of its own, so that the test can signal it."""
    (tmp_path / "request.pickle").write_bytes(pickle.dumps(request))
    script = (
        "import pathlib, pickle, sys; from probes.restore_drill import run_restore_drill; "
        "run_restore_drill(pickle.loads(pathlib.Path(sys.argv[1]).read_bytes()))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "request.pickle")],
        cwd=REPO,
        stderr=subprocess.PIPE,
    )


def slow_pg_restore(tmp_path: Path, state: stack.State) -> Path:
    """pg_restore that lists at once but restores only after 30 s: time to send signals."""
    slow = tmp_path / "slow_pg_restore"
    real = state.postgres.tool("pg_restore")
    slow.write_text(f'#!/bin/sh\n[ "$1" = --list ] || sleep 30\nexec {real} "$@"\n')
    slow.chmod(0o755)
    return slow


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_drill_still_drops_its_scratch_database(
    tmp_path: Path,
    shared_stack: stack.State,
    dumps: dict[str, Path],
    signum: int,
    children: list[subprocess.Popen[bytes]],
) -> None:
    slow = slow_pg_restore(tmp_path, shared_stack)
    request = _request(shared_stack, dumps["good"], tmp_path, pg_restore=str(slow))
    child = start_drill(tmp_path, request)
    children.append(child)
    deadline = time.monotonic() + 20
    while not scratch_databases(shared_stack) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scratch_databases(shared_stack), "the drill never created its scratch database"
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=20)
    assert child.returncode != 0 and b"KeyboardInterrupt" in stderr
    assert scratch_databases(shared_stack) == []
    (log,) = tmp_path.glob("restore_drill_*.log")
    logged = parse_drill_log(log.read_bytes())
    assert logged.interrupted and not logged.succeeded and logged.complete
    name = signal.Signals(signum).name
    assert logged.error == f"{name} received while restoring with pg_restore"


def test_future_dated_drill_log_fails_freshness_and_never_counts_as_newest(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    logs = {
        -3 * DAY: lms_transcript(-3 * DAY),
        10 * DAY: lms_transcript(10 * DAY, error=FEW_TABLES),
    }
    run = weekly(tmp_path, shared_stack, logs)
    result = run.only("test_a_restore_drill_ran_within")
    assert result.outcome == "failed"
    assert "1 drill log(s) dated in the future in " in result.message
    assert " is 2d23h59m" in result.message or " is 3d ahead" in result.message
    assert "clock tolerance is 1h" in result.message and "(10d old)" in result.message
    # The drill the weekly review reads is the newest genuine one, which failed validation.
    assert FEW_TABLES in run.only("test_the_latest_restore_drill_completed").message


@pytest.mark.parametrize("breakage", ["wrong_password", "closed_port"])
def test_unmeasurable_source_is_an_error_of_the_row_count_comparison(
    tmp_path: Path, shared_stack: stack.State, breakage: str
) -> None:
    source: dict[str, object] = (
        {"password": "not-the-password"}
        if breakage == "wrong_password"
        else {"port": closed_port()}
    )
    logs = tmp_path / "drill_logs"
    config = sandbox_config(
        shared_stack, targets={"postgres": source}, artifacts={"drill_logs": {"dir": str(logs)}}
    )
    run = drill(tmp_path, config)
    result = run.only("test_restored_rows_match_the_source")
    assert result.outcome == "error", run.output
    kind = "rejected" if breakage == "wrong_password" else "unreachable"
    assert f"could not measure ({kind}): " in result.message
    assert "row counts not compared with the source" in result.message
    assert "not-the-password" not in run.output
    assert run.only("test_newest_backup_restores").outcome == "passed"
    assert scratch_databases(shared_stack) == []


def test_no_source_configured_skips_the_row_count_comparison(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(
        shared_stack,
        targets={"postgres": None},
        artifacts={"drill_logs": {"dir": str(tmp_path / "drill_logs")}},
    )
    run = drill(tmp_path, config)
    result = run.only("test_restored_rows_match_the_source")
    assert result.outcome == "skipped", run.output
    assert "row counts not compared: no source database configured" in result.message


# -- judged on what the dump holds, against the source as of the dump -----------------------


@pytest.fixture
def own_source(shared_stack: stack.State, dumps: dict[str, Path]) -> Iterator[str]:
    """A source database of this test's own, restored from the stack's newest backup."""
    name = f"lms_source_{os.getpid()}_{time.monotonic_ns()}"
    restore_into(shared_stack, name, dumps["good"])
    try:
        yield name
    finally:
        with shared_stack.postgres.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def restore_into(state: stack.State, dbname: str, dump: Path) -> None:
    server = state.postgres
    with server.connect() as conn:
        conn.execute(f"CREATE DATABASE {dbname}")
    subprocess.run(
        [
            *(server.tool("pg_restore"), "-h", "127.0.0.1", "-p", str(server.port)),
            *("-U", "postgres", "-d", dbname, "--no-owner", str(dump)),
        ],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "PGPASSWORD": server.superuser_password},
    )


def drill_against(
    tmp_path: Path, state: stack.State, source: str, backups: Path | None = None
) -> SuiteRun:
    """The active drill of the stack's backups (or ``backups``), compared with ``source``."""
    target = {
        "dbname": source,
        "user": "postgres",
        "password": state.pg_superuser_password,
    }
    artifacts: dict[str, object] = {"drill_logs": {"dir": str(tmp_path / "drill_logs")}}
    if backups is not None:
        artifacts["backups"] = {"dir": str(backups)}
    return drill(tmp_path, sandbox_config(state, targets={"postgres": target}, artifacts=artifacts))


def the_log(tmp_path: Path) -> str:
    (log,) = (tmp_path / "drill_logs").glob("restore_drill_*.log")
    return log.read_text()


def test_rows_added_after_the_dump_pass_and_are_reported_as_growth(
    tmp_path: Path, shared_stack: stack.State, own_source: str
) -> None:
    with shared_stack.postgres.connect(own_source) as conn:
        conn.execute(
            "INSERT INTO users (email, full_name) SELECT 'new' || i || '@lms.example', 'New' "
            "FROM generate_series(1, 3) AS i"
        )
        conn.execute("INSERT INTO payments (user_id, amount_cents) VALUES (6, 100), (7, 100)")
    run = drill_against(tmp_path, shared_stack, own_source)
    assert run.exit_code == 0, run.output
    rows = run.only("test_restored_rows_match_the_source")
    assert rows.outcome == "passed", run.output
    assert "users 200 restored, 203 in the source now" in rows.properties["evidence.rows"]
    drift = run.only("test_live_database_kept_the_rows")
    assert drift.outcome == "passed"
    assert "users: 3" in drift.properties["evidence.added_since_the_dump"]
    assert "payments: 2" in drift.properties["evidence.added_since_the_dump"]
    log = the_log(tmp_path)
    assert "validation: rows_as_of_the_dump: passed: " in log
    assert "validation: drift_since_the_dump: passed: added users +3, payments +2" in log
    assert "restore: succeeded" in log


def test_a_restore_missing_rows_fails_and_stays_a_medium_finding(
    tmp_path: Path, shared_stack: stack.State, own_source: str, dumps: dict[str, Path]
) -> None:
    partial = f"{own_source}_partial"
    restore_into(shared_stack, partial, dumps["good"])
    try:
        with shared_stack.postgres.connect(partial) as conn:
            conn.execute("DELETE FROM payments WHERE id <= 40")  # the 40 oldest payments
        backups = tmp_path / "backups"
        backups.mkdir()
        pg_dump(
            shared_stack.postgres, partial, backups / f"lms_{datetime.now(UTC):%Y%m%d_%H%M%S}.dump"
        )
    finally:
        with shared_stack.postgres.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {partial} WITH (FORCE)")
    run = drill_against(tmp_path, shared_stack, own_source, backups)
    rows = run.only("test_restored_rows_match_the_source")
    assert rows.outcome == "failed", run.output
    assert "lacks rows the source held at the dump: payments: 40 of the source's 299 rows " in (
        rows.message
    )
    assert "created before the dump are not in the restore" in rows.message
    assert "tolerance 5%" in rows.message and "lms_restore_drill_" in rows.message
    assert run.only("test_newest_backup_restores").outcome == "passed"
    log = the_log(tmp_path)
    assert "validation: rows_as_of_the_dump: failed: " in log and "restore: succeeded" in log
    # Next week's review reads a successful restore: the medium finding is not escalated.
    review = weekly(tmp_path / "review", shared_stack, {DAY: log.encode()})
    assert review.only("test_the_latest_restore_drill_completed").outcome == "passed"


def test_rows_deleted_from_the_source_since_the_dump_are_drift_not_a_bad_restore(
    tmp_path: Path, shared_stack: stack.State, own_source: str
) -> None:
    with shared_stack.postgres.connect(own_source) as conn:
        conn.execute("DELETE FROM payments WHERE id <= 30")
    run = drill_against(tmp_path, shared_stack, own_source)
    assert run.only("test_restored_rows_match_the_source").outcome == "passed", run.output
    drift = run.only("test_live_database_kept_the_rows")
    assert drift.outcome == "failed"
    assert drift.properties["severity"] == "low"
    assert "the live database no longer has rows the dump holds: payments -30 (" in drift.message
    assert "tolerance 5%" in drift.message


# -- honest, complete, bounded: the drill's own log and its cleanup --------------------------


def test_two_sigterms_during_cleanup_still_drop_the_scratch_and_write_the_log(
    tmp_path: Path,
    shared_stack: stack.State,
    dumps: dict[str, Path],
    children: list[subprocess.Popen[bytes]],
) -> None:
    slow = slow_pg_restore(tmp_path, shared_stack)
    request = _request(shared_stack, dumps["good"], tmp_path, pg_restore=str(slow))
    child = start_drill(tmp_path, request)
    children.append(child)
    deadline = time.monotonic() + 20
    while not scratch_databases(shared_stack) and time.monotonic() < deadline:
        time.sleep(0.05)
    (scratch,) = scratch_databases(shared_stack)
    # Hold a lock on the scratch database so that the drill's DROP waits: the second SIGTERM
    # then arrives while the cleanup is certainly running, as when a slow drop meets a
    # supervisor that lost patience.
    with shared_stack.postgres.connect() as holder:
        holder.autocommit = False
        holder.execute(f"COMMENT ON DATABASE {scratch} IS 'held by the self-test'")
        child.send_signal(signal.SIGTERM)
        assert _waits_to_drop(shared_stack, scratch), "the drill never started its DROP DATABASE"
        for _ in range(2):
            child.send_signal(signal.SIGTERM)
            time.sleep(0.1)
        assert child.poll() is None, "a SIGTERM during the cleanup stopped the drill"
        holder.rollback()  # release the lock: the DROP goes on
    _, stderr = child.communicate(timeout=30)
    assert child.returncode != 0, stderr
    assert scratch_databases(shared_stack) == []
    (log,) = tmp_path.glob("restore_drill_*.log")
    text = log.read_text()
    logged = parse_drill_log(text)
    assert logged.complete and logged.interrupted
    assert logged.error == "SIGTERM received while restoring with pg_restore"
    # CPython runs a handler once for signals that arrive together: "at least one" was held.
    held = r"step: [12] further signal\(s\) arrived during the cleanup; they were held"
    assert re.search(held, text), text
    assert f"step: dropped database {scratch}" in text


def _waits_to_drop(state: stack.State, scratch: str) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with state.postgres.connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s AND wait_event_type = "
                "'Lock'",
                (f"DROP DATABASE IF EXISTS %{scratch}%",),
            ).fetchone()
        if row and row[0]:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("breakage", ["missing", "directory"])
def test_unreadable_backup_is_an_error_and_creates_nothing(
    tmp_path: Path, shared_stack: stack.State, breakage: str
) -> None:
    backup = tmp_path / "lms_20261128_020000.dump"
    if breakage == "directory":
        backup.mkdir()
    request = _request(shared_stack, backup, tmp_path / "logs")
    with pytest.raises(Unreadable, match=f"{backup} on local://: cannot read the backup: "):
        run_restore_drill(request)
    assert scratch_databases(shared_stack) == [] and not (tmp_path / "logs").exists()


def test_pg_restore_path_too_long_for_the_os_is_one_line_and_creates_nothing(
    tmp_path: Path, shared_stack: stack.State, dumps: dict[str, Path]
) -> None:
    long = "/opt/" + "p" * 300 + "/pg_restore"
    request = _request(shared_stack, dumps["good"], tmp_path / "logs", pg_restore=long)
    with pytest.raises(MeasurementError) as raised:
        run_restore_drill(request)
    assert "cannot run /opt/ppp" in str(raised.value) and "File name too long" in str(raised.value)
    assert "\n" not in str(raised.value)
    assert scratch_databases(shared_stack) == [] and not (tmp_path / "logs").exists()


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is absent")
def test_encrypted_newest_backup_is_an_error_of_the_drill_not_a_failed_restore(
    tmp_path: Path, shared_stack: stack.State, dumps: dict[str, Path]
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    gpg(dumps["good"], backups / f"lms_{datetime.now(UTC):%Y%m%d_%H%M%S}.dump")
    artifacts = {"backups": {"dir": str(backups)}, "drill_logs": {"dir": str(tmp_path / "logs")}}
    run = drill(tmp_path, sandbox_config(shared_stack, artifacts=artifacts))
    assert {r.outcome for r in run.checks.values()} == {"error"}, run.output
    message = run.only("test_newest_backup_restores").message
    assert "an OpenPGP (gpg) encrypted message; the active drill cannot decrypt" in message
    assert scratch_databases(shared_stack) == []


def test_drill_and_catalogue_both_ignore_a_link_named_like_a_newer_backup(
    tmp_path: Path, shared_stack: stack.State, dumps: dict[str, Path]
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    real = backups / f"lms_{datetime.now(UTC) - timedelta(hours=1):%Y%m%d_%H%M%S}.dump"
    shutil.copyfile(dumps["good"], real)
    link = backups / f"lms_{datetime.now(UTC):%Y%m%d_%H%M%S}.dump"
    os.symlink(dumps["plain"], link)
    artifacts = {"backups": {"dir": str(backups)}, "drill_logs": {"dir": str(tmp_path / "logs")}}
    env_file = write_env(tmp_path / "env.yaml", sandbox_config(shared_stack, artifacts=artifacts))
    run = run_suite(
        "-m",
        "drill or daily",
        f"--env={env_file}",
        CHECKS,
        "checks/test_backups.py",
        out=tmp_path / "out",
    )
    restored = run.only("test_newest_backup_restores")
    assert restored.outcome == "passed", run.output
    assert real.name in restored.properties["evidence.backup"]
    assert real.name in run.only("test_newest_backup_is_younger").properties["evidence.newest"]
