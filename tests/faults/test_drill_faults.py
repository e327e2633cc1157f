"""The restore-drill checks fail, on real PostgreSQL and real pg_dump output, when they should."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes.drill_log import parse_drill_log
from lms_opscheck.probes.drill_safety import DrillRefused, refuse_unsafe
from lms_opscheck.probes.restore_drill import DrillRequest, run_restore_drill
from lms_opscheck.sandbox import stack
from lms_opscheck.sandbox.artifacts import pg_dump, run_drill
from tests.support.runner import REPO, SuiteRun, run_suite, write_env
from tests.support.stacks import closed_port, sandbox_config

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
def transcripts(
    shared_stack: stack.State, dumps: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, bytes]:
    """Transcripts of real drills: one that succeeded and one that failed validation."""
    made = {}
    for kind, dump in (("success", dumps["good"]), ("few", dumps["few"])):
        folder = tmp_path_factory.mktemp(kind)
        made[kind] = run_drill(shared_stack.postgres, dump, folder, 8).read_bytes()
    text = made["success"].decode()
    made["half"] = text[: text.index("==> Running restore validation")].encode()
    return made


def windows(raw: bytes) -> bytes:
    """The same transcript as Windows PowerShell 5 writes it: UTF-16 LE, BOM, CRLF."""
    return b"\xff\xfe" + raw.decode().replace("\n", "\r\n").encode("utf-16-le")


def weekly(
    tmp_path: Path, state: stack.State, logs: dict[timedelta, bytes], **overrides: object
) -> SuiteRun:
    """Run the weekly drill checks over a drill-log folder holding ``logs`` (age -> content)."""
    folder = tmp_path / "drill_logs"
    folder.mkdir(parents=True)
    now = datetime.now(UTC)
    for age, content in logs.items():
        (folder / f"restore_drill_{now - age:%Y%m%d_%H%M%S}.log").write_bytes(content)
    config = sandbox_config(state, artifacts={"drill_logs": {"dir": str(folder)}}, **overrides)
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
    assert len(run.checks) == 12 and {r.outcome for r in run.checks.values()} == {"passed"}
    assert scratch_databases(shared_stack) == []
    assert (
        "lms_restore_drill_"
        in run.only("test_newest_backup_restores").properties["evidence.scratch"]
    )


@pytest.mark.parametrize("encode", [bytes, windows], ids=["utf8-lf", "utf16-crlf"])
def test_failed_validation_transcript_fails_quoting_its_error_line(
    tmp_path: Path, shared_stack: stack.State, transcripts: dict[str, bytes], encode: object
) -> None:
    raw = encode(transcripts["few"])  # type: ignore[operator]
    run = weekly(tmp_path, shared_stack, {DAY: raw})
    result = run.only("test_the_latest_restore_drill_completed")
    assert result.outcome == "failed"
    assert f"failed: '{FEW_TABLES}" in result.message and "restore_drill_" in result.message
    tables = run.only("test_the_latest_drill_restored_at_least")
    assert tables.outcome == "failed" and "saw 3 tables; minimum is 8" in tables.message
    assert run.only("test_a_restore_drill_ran_within").outcome == "passed"


def test_successful_windows_transcript_passes(
    tmp_path: Path, shared_stack: stack.State, transcripts: dict[str, bytes]
) -> None:
    run = weekly(tmp_path, shared_stack, {DAY: windows(transcripts["success"])})
    for prefix in (
        "test_the_latest_restore_drill",
        "test_the_latest_drill_restored",
        "test_the_latest_drill_finished",
        "test_a_restore_drill_ran",
    ):
        assert run.only(prefix).outcome == "passed", run.output


def test_transcript_stopped_half_way_fails_naming_the_last_step(
    tmp_path: Path, shared_stack: stack.State, transcripts: dict[str, bytes]
) -> None:
    run = weekly(tmp_path, shared_stack, {DAY: windows(transcripts["half"])})
    result = run.only("test_the_latest_restore_drill_completed")
    assert result.outcome == "failed"
    assert "stops after step 'Restoring backup into drill database'" in result.message
    assert "(truncated)" in result.message
    duration = run.only("test_the_latest_drill_finished_within_the_rto")
    assert duration.outcome == "failed" and "has no start and end time" in duration.message


def test_stale_drill_log_fails_with_its_age_and_the_interval(
    tmp_path: Path, shared_stack: stack.State, transcripts: dict[str, bytes]
) -> None:
    run = weekly(tmp_path, shared_stack, {10 * DAY: transcripts["success"]})
    result = run.only("test_a_restore_drill_ran_within")
    assert result.outcome == "failed"
    assert "old) in " in result.message and "10d" in result.message
    assert "drills run every 7d (+1d grace)" in result.message


def test_drill_over_the_rto_fails_with_duration_and_rto(
    tmp_path: Path, shared_stack: stack.State, transcripts: dict[str, bytes]
) -> None:
    run = weekly(tmp_path, shared_stack, {DAY: transcripts["success"]}, policy={"rto": "500ms"})
    result = run.only("test_the_latest_drill_finished_within_the_rto")
    assert result.outcome == "failed"
    assert " took 1s; RTO is 500ms" in result.message or " took 2s; RTO is 500ms" in result.message


def test_drill_logs_kept_too_briefly_fail_retention(
    tmp_path: Path, shared_stack: stack.State, transcripts: dict[str, bytes]
) -> None:
    logs = {d * DAY: transcripts["success"] for d in (1, 8, 15)}
    result = weekly(tmp_path, shared_stack, logs).only("test_drill_logs_are_kept")
    assert result.outcome == "failed"
    assert "is 15d old (3 kept); retention is 90d, so one at least 82d old" in result.message


def test_empty_drill_log_folder_fails_freshness(tmp_path: Path, shared_stack: stack.State) -> None:
    result = weekly(tmp_path, shared_stack, {}).only("test_a_restore_drill_ran_within")
    assert result.outcome == "failed" and "no restore-drill log in" in result.message


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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_drill_still_drops_its_scratch_database(
    tmp_path: Path, shared_stack: stack.State, dumps: dict[str, Path], signum: int
) -> None:
    slow = tmp_path / "slow_pg_restore"
    slow.write_text(f'#!/bin/sh\nsleep 30\nexec {shared_stack.postgres.tool("pg_restore")} "$@"\n')
    slow.chmod(0o755)
    request = _request(shared_stack, dumps["good"], tmp_path, pg_restore=str(slow))
    (tmp_path / "request.pickle").write_bytes(pickle.dumps(request))
    script = (
        "import pathlib, pickle, sys; from probes.restore_drill import run_restore_drill; "
        "run_restore_drill(pickle.loads(pathlib.Path(sys.argv[1]).read_bytes()))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "request.pickle")],
        cwd=REPO,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while not scratch_databases(shared_stack) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scratch_databases(shared_stack), "the drill never created its scratch database"
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=20)
    assert child.returncode != 0 and b"KeyboardInterrupt" in stderr
    assert scratch_databases(shared_stack) == []
    (log,) = tmp_path.glob("restore_drill_*.log")
    assert "interrupted" in (parse_drill_log(log.read_bytes()).error or "")


def test_future_dated_drill_log_fails_freshness_and_never_counts_as_newest(
    tmp_path: Path, shared_stack: stack.State, transcripts: dict[str, bytes]
) -> None:
    logs = {-3 * DAY: transcripts["success"], 10 * DAY: transcripts["few"]}
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
    result = run.only("test_restored_row_counts_match_the_source")
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
    result = run.only("test_restored_row_counts_match_the_source")
    assert result.outcome == "skipped", run.output
    assert "row counts not compared: no source database configured" in result.message
