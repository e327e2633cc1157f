"""The daily backup checks fail, on real pg_dump archives, for the faults they exist for."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lms_opscheck.sandbox import stack
from lms_opscheck.sandbox.artifacts import backup_name, pg_dump
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.sshd import MISSING, SSHD, running_sshd
from tests.support.stacks import closed_port

CHECKS = "checks/test_backups.py"


@pytest.fixture(scope="module")
def dumps(shared_stack: stack.State, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real archives from the private stack: the nightly set, a plain SQL dump, another database."""
    root = tmp_path_factory.mktemp("dumps")
    server = shared_stack.postgres
    made = {"nightly": shared_stack.dir / "backups" / "db"}
    for label, dbname, fmt in (("plain", "lms", "p"), ("otherdb", "postgres", "c")):
        made[label] = root / f"{label}.dump"
        pg_dump(server, dbname, made[label], f"-F{fmt}")
    return made


@pytest.fixture
def backup_dir(tmp_path: Path, dumps: dict[str, Path]) -> Path:
    """This test's own copy of the nightly backups (names, contents and mtimes)."""
    target = tmp_path / "backups" / "db"
    shutil.copytree(dumps["nightly"], target, copy_function=shutil.copy2)
    return target


@pytest.fixture
def pg_bin(shared_stack: stack.State) -> str:
    return shared_stack.environ()["SANDBOX_PG_BIN"]


def config(directory: Path, pg_bin: str, **backups: Any) -> dict[str, Any]:
    location = {"dir": str(directory), "pg_restore": f"{pg_bin}/pg_restore", **backups}
    return {"name": "selftest", "artifacts": {"backups": location}}


def daily(tmp_path: Path, cfg: dict[str, Any]) -> SuiteRun:
    env_file = write_env(tmp_path / "env.yaml", cfg)
    return run_suite("-m", "daily", f"--env={env_file}", CHECKS, out=tmp_path / "out")


def newest(directory: Path) -> Path:
    return sorted(directory.glob("lms_*.dump"))[-1]


def by_age(directory: Path, days: int) -> Path:
    return sorted(directory.glob("lms_*.dump"))[-1 - days]


def place(directory: Path, source: Path, moment: datetime) -> Path:
    target = directory / backup_name(moment)
    shutil.copyfile(source, target)
    os.utime(target, (moment.timestamp(), moment.timestamp()))
    return target


def assert_all_passed_but_encryption_not_applicable(run: SuiteRun) -> None:
    """Plain dumps are accepted (encrypted: false): BKP-08 measures nothing, so it skips."""
    assert len(run.checks) == 8
    encryption = run.only("test_backups_are_encrypted")
    assert encryption.outcome == "skipped", run.output
    assert "not applicable: artifacts.backups.encrypted is false" in encryption.message
    others = [r for name, r in run.checks.items() if not name.startswith("test_backups_are_enc")]
    assert all(r.outcome == "passed" for r in others), run.output


def test_fresh_backups_pass_every_backup_check(
    tmp_path: Path, backup_dir: Path, pg_bin: str
) -> None:
    run = daily(tmp_path, config(backup_dir, pg_bin))
    assert run.exit_code == 0, run.output
    assert_all_passed_but_encryption_not_applicable(run)
    props = run.only("test_newest_backup_is_younger").properties
    assert props["control_id"] == "BKP-01"
    assert newest(backup_dir).name in props["evidence.newest"]


def test_stale_backup_fails_rpo_naming_file_age_and_rpo(
    tmp_path: Path, backup_dir: Path, pg_bin: str
) -> None:
    for _ in range(2):
        newest(backup_dir).unlink()
    left = newest(backup_dir).name
    run = daily(tmp_path, config(backup_dir, pg_bin))
    result = run.only("test_newest_backup_is_younger")
    assert result.outcome == "failed"
    assert f"backup {left} is 2d" in result.message and "RPO is 1d" in result.message
    assert str(backup_dir) in result.message
    assert run.only("test_a_backup_was_taken_every_day").outcome == "failed"


def test_future_dated_backup_is_reported_and_not_taken_as_fresh(
    tmp_path: Path, backup_dir: Path, pg_bin: str
) -> None:
    ahead = place(backup_dir, newest(backup_dir), datetime.now(UTC) + timedelta(days=3))
    newest_real = sorted(backup_dir.glob("lms_*.dump"))[-2].name
    run = daily(tmp_path, config(backup_dir, pg_bin))
    clock = run.only("test_backup_times_agree")
    assert clock.outcome == "failed"
    assert f"{ahead.name} is 2d23h" in clock.message or f"{ahead.name} is 3d" in clock.message
    assert "dated in the future" in clock.message and "clock tolerance is 1h" in clock.message
    rpo = run.only("test_newest_backup_is_younger")
    assert rpo.outcome == "passed" and newest_real in rpo.properties["evidence.newest"]


def test_mtime_far_from_name_is_reported(tmp_path: Path, backup_dir: Path, pg_bin: str) -> None:
    old = by_age(backup_dir, 10)
    old.touch()  # copied or rewritten today under a 10-day-old name
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_backup_times_agree")
    assert result.outcome == "failed"
    assert f"{old.name} mtime 9d" in result.message or f"{old.name} mtime 10d" in result.message
    assert "tolerance is 1h" in result.message


def test_zero_byte_dump_fails_size_and_integrity(
    tmp_path: Path, backup_dir: Path, pg_bin: str
) -> None:
    empty = newest(backup_dir)
    os.truncate(empty, 0)
    run = daily(tmp_path, config(backup_dir, pg_bin))
    size = run.only("test_newest_backup_is_not_suspiciously_small")
    assert size.outcome == "failed"
    assert f"backup {empty.name} is 0 B; expected >= " in size.message
    assert "minimum 1024 B" in size.message
    integrity = run.only("test_newest_backup_is_a_restorable")
    assert integrity.outcome == "failed"
    assert f"backup {empty.name} is not a valid custom-format archive" in integrity.message
    assert "an empty file" in integrity.message and "too short" in integrity.message


def test_truncated_dump_fails_the_size_ratio(tmp_path: Path, backup_dir: Path, pg_bin: str) -> None:
    cut = newest(backup_dir)
    full = cut.stat().st_size
    os.truncate(cut, full * 4 // 10)
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_newest_backup_is_not_susp")
    assert result.outcome == "failed"
    assert f"backup {cut.name} is {full * 4 // 10} B" in result.message
    assert f"0.5 x median {full} B of the previous 7" in result.message


def test_dump_truncated_inside_its_toc_fails_integrity(
    tmp_path: Path, backup_dir: Path, pg_bin: str
) -> None:
    cut = newest(backup_dir)
    os.truncate(cut, 3000)
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_newest_backup_is_a_restorable")
    assert result.outcome == "failed"
    assert f"backup {cut.name} is not a valid custom-format archive" in result.message
    assert "end of file" in result.message


def test_plain_sql_dump_fails_integrity(
    tmp_path: Path, backup_dir: Path, pg_bin: str, dumps: dict[str, Path]
) -> None:
    shutil.copyfile(dumps["plain"], newest(backup_dir))
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_newest_backup_is_a_restorable")
    assert result.outcome == "failed"
    assert "it looks like a plain SQL script" in result.message
    assert "text format dump" in result.message


def test_dump_of_the_wrong_database_lacks_expected_tables(
    tmp_path: Path, backup_dir: Path, pg_bin: str, dumps: dict[str, Path]
) -> None:
    wrong = newest(backup_dir)
    shutil.copyfile(dumps["otherdb"], wrong)
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_newest_backup_is_a_restorable")
    assert result.outcome == "failed"
    assert f"backup {wrong.name} (database 'postgres') lacks 8 of the 8 expected" in result.message
    assert "alembic_version, users, courses" in result.message


def test_missing_day_fails_naming_the_window(tmp_path: Path, backup_dir: Path, pg_bin: str) -> None:
    gone = by_age(backup_dir, 3)
    gone.unlink()
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_a_backup_was_taken_every")
    assert result.outcome == "failed"
    assert "1 of the last 7 days have no backup" in result.message
    day = datetime.strptime(gone.name[4:12], "%Y%m%d")
    assert f"..{day:%Y-%m-%d}" in result.message or f"{day:%Y-%m-%d} " in result.message


def test_retention_too_short_fails_coverage(tmp_path: Path, backup_dir: Path, pg_bin: str) -> None:
    for old in sorted(backup_dir.glob("lms_*.dump"))[:11]:
        old.unlink()
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_backups_cover_the_retention")
    assert result.outcome == "failed"
    # 20 nightly backups left: the oldest is 19 days before the newest, which is < 24 h old.
    assert re.search(r"reach back (19d|20d)", result.message), result.message  # 19d2m at 02:02
    assert "(oldest lms_" in result.message and "retention is 30d" in result.message


def test_retention_too_long_fails_pruning(tmp_path: Path, backup_dir: Path, pg_bin: str) -> None:
    ancient = place(backup_dir, newest(backup_dir), datetime.now(UTC) - timedelta(days=40))
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_no_backup_is_kept_past")
    assert result.outcome == "failed"
    assert f"oldest {ancient.name} is 40d" in result.message
    assert "retention + grace is 32d" in result.message


@pytest.mark.parametrize("breakage", ["missing", "not_a_directory"])
def test_unreadable_directory_is_an_error_naming_it(
    tmp_path: Path, backup_dir: Path, pg_bin: str, breakage: str
) -> None:
    shutil.rmtree(backup_dir)
    if breakage == "not_a_directory":
        backup_dir.write_text("a volume that is not mounted")
    run = daily(tmp_path, config(backup_dir, pg_bin))
    assert {r.outcome for r in run.checks.values()} == {"error"}, run.output
    message = run.only("test_newest_backup_is_younger").message
    assert f"could not measure (unreadable): {backup_dir} on local://: cannot list" in message


def test_unencrypted_dumps_fail_where_policy_requires_encryption(
    tmp_path: Path, backup_dir: Path, pg_bin: str
) -> None:
    result = daily(tmp_path, config(backup_dir, pg_bin, encrypted=True)).only(
        "test_backups_are_encrypted"
    )
    assert result.outcome == "failed"
    assert "7 of the last 7 backup(s)" in result.message
    assert "a PostgreSQL custom-format archive (PGDMP)" in result.message


def test_encryption_required_with_no_backup_examined_fails_naming_the_location(
    tmp_path: Path, pg_bin: str
) -> None:
    empty = tmp_path / "backups" / "db"
    empty.mkdir(parents=True)
    run = daily(tmp_path, config(empty, pg_bin, encrypted=True))
    result = run.only("test_backups_are_encrypted")
    assert result.outcome == "failed", run.output
    assert f"no backup examined in {empty} on local://" in result.message
    assert "0 matching" in result.message and "at least 1 must be examined" in result.message


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is absent")
def test_encrypted_dumps_pass_the_encryption_policy(
    tmp_path: Path, backup_dir: Path, pg_bin: str
) -> None:
    for dump in backup_dir.glob("lms_*.dump"):
        stat = dump.stat()
        subprocess.run(
            [
                *("openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-pass", "pass:selftest"),
                *("-in", str(dump), "-out", str(dump) + ".enc"),
            ],
            check=True,
            timeout=30,
        )
        os.replace(str(dump) + ".enc", dump)
        os.utime(dump, (stat.st_mtime, stat.st_mtime))
    run = daily(tmp_path, config(backup_dir, pg_bin, encrypted=True))
    assert run.only("test_backups_are_encrypted").outcome == "passed", run.output
    assert run.only("test_newest_backup_is_a_restorable").outcome == "skipped"


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Any]:
    if not SSHD.exists():
        pytest.skip(MISSING)
    with running_sshd(tmp_path / "sshd") as server:
        yield server


def test_same_catalogue_over_ssh_passes_and_names_the_host(
    tmp_path: Path, backup_dir: Path, pg_bin: str, sshd: Any
) -> None:
    cfg = config(backup_dir, pg_bin, host="db-1")
    cfg["hosts"] = {"db-1": sshd.host()}
    run = daily(tmp_path, cfg)
    assert_all_passed_but_encryption_not_applicable(run)
    props = run.only("test_newest_backup_is_younger").properties
    assert f"on {sshd.uri}" in props["evidence.age"]


def test_plain_dump_over_ssh_fails_integrity_on_the_remote_host(
    tmp_path: Path, backup_dir: Path, pg_bin: str, sshd: Any, dumps: dict[str, Path]
) -> None:
    shutil.copyfile(dumps["plain"], newest(backup_dir))
    cfg = config(backup_dir, pg_bin, host="db-1")
    cfg["hosts"] = {"db-1": sshd.host()}
    result = daily(tmp_path, cfg).only("test_newest_backup_is_a_restorable")
    assert result.outcome == "failed"
    assert f"{backup_dir} on {sshd.uri}" in result.message
    assert "text format dump" in result.message


def test_unreachable_ssh_host_is_an_error_naming_it(
    tmp_path: Path, backup_dir: Path, pg_bin: str, sshd: Any
) -> None:
    port = closed_port()
    cfg = config(backup_dir, pg_bin, host="db-1")
    cfg["hosts"] = {"db-1": {**sshd.host(), "uri": f"ssh://root@127.0.0.1:{port}"}}
    run = daily(tmp_path, cfg)
    assert {r.outcome for r in run.checks.values()} == {"error"}, run.output
    message = run.only("test_newest_backup_is_younger").message
    assert f"ssh://root@127.0.0.1:{port}" in message and "Connection refused" in message


def test_missing_directory_over_ssh_is_an_error(
    tmp_path: Path, backup_dir: Path, pg_bin: str, sshd: Any
) -> None:
    cfg = config(backup_dir / "gone", pg_bin, host="db-1")
    cfg["hosts"] = {"db-1": sshd.host()}
    message = daily(tmp_path, cfg).only("test_newest_backup_is_younger").message
    assert f"(unreadable): {backup_dir / 'gone'} on {sshd.uri}: cannot list" in message
    assert "No such file or directory" in message
