"""The daily backup checks fail, on real pg_dump archives, for the faults they exist for."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lms_opscheck.sandbox import stack
from lms_opscheck.sandbox.artifacts import backup_name, pg_dump
from tests.support.backup_sets import (
    age_archive_header,
    gpg,
    keep_mtime,
    nightly_in_zone,
    shifting_zone,
)
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.sshd import MISSING, SSHD, running_sshd
from tests.support.stacks import closed_port

CHECKS = "checks/test_backups.py"


@pytest.fixture(scope="module")
def dumps(shared_stack: stack.State, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real archives from the private stack: the nightly set, a plain SQL dump, another
    database without the LMS schema, another database with it, and a schema-only dump."""
    root = tmp_path_factory.mktemp("dumps")
    server = shared_stack.postgres
    made = {"nightly": shared_stack.dir / "backups" / "db"}
    with server.connect() as conn:
        conn.execute("CREATE DATABASE lms_staging")
    restore = [server.tool("pg_restore"), "-h", "127.0.0.1", "-p", str(server.port)]
    source = str(newest(made["nightly"]))
    subprocess.run(
        [*restore, "-U", "postgres", "-d", "lms_staging", "--no-owner", source],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "PGPASSWORD": server.superuser_password},
    )
    for label, dbname, options in (
        ("plain", "lms", ("-Fp",)),
        ("otherdb", "postgres", ("-Fc",)),
        ("staging", "lms_staging", ("-Fc",)),
        ("schema_only", "lms", ("-Fc", "--schema-only")),
    ):
        made[label] = root / f"{label}.dump"
        pg_dump(server, dbname, made[label], *options)
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


def daily(tmp_path: Path, cfg: dict[str, Any], env: dict[str, str] | None = None) -> SuiteRun:
    tmp_path.mkdir(parents=True, exist_ok=True)
    env_file = write_env(tmp_path / "env.yaml", cfg)
    return run_suite("-m", "daily", f"--env={env_file}", CHECKS, out=tmp_path / "out", env=env)


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


def test_dump_of_a_database_without_the_lms_schema_lacks_expected_tables(
    tmp_path: Path, backup_dir: Path, pg_bin: str, dumps: dict[str, Path]
) -> None:
    wrong = newest(backup_dir)
    shutil.copyfile(dumps["otherdb"], wrong)
    cfg = config(backup_dir, pg_bin, dbname="postgres")  # the name is right: the tables are not
    result = daily(tmp_path, cfg).only("test_newest_backup_is_a_restorable")
    assert result.outcome == "failed"
    assert f"backup {wrong.name} (database 'postgres') lacks 8 of the 8 expected" in result.message
    assert "alembic_version, users, courses" in result.message


def test_dump_of_another_database_with_the_lms_schema_fails_naming_both_databases(
    tmp_path: Path, backup_dir: Path, pg_bin: str, dumps: dict[str, Path]
) -> None:
    wrong = newest(backup_dir)
    shutil.copyfile(dumps["staging"], wrong)
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_newest_backup_is_a_restorable")
    assert result.outcome == "failed"
    assert f"backup {wrong.name} is a dump of database 'lms_staging'; expected 'lms'" in (
        result.message
    )
    assert "artifacts.backups.dbname" in result.message
    named = daily(tmp_path / "named", config(backup_dir, pg_bin, dbname="lms_staging"))
    assert named.only("test_newest_backup_is_a_restorable").outcome == "passed", named.output


def test_schema_only_dump_fails_for_carrying_no_rows(
    tmp_path: Path, backup_dir: Path, pg_bin: str, dumps: dict[str, Path]
) -> None:
    empty = newest(backup_dir)
    shutil.copyfile(dumps["schema_only"], empty)
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_newest_backup_is_a_restorable")
    assert result.outcome == "failed"
    assert f"backup {empty.name} carries no rows (no TABLE DATA entry) for 8 of the 8" in (
        result.message
    )
    assert "it has 0 TABLE DATA entries in all (a schema-only dump)" in result.message


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
    assert "7 of the last 7 backup(s)" in result.message and "not recognisably encrypted" in (
        result.message
    )
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


def _openssl(source: Path, target: Path) -> None:
    subprocess.run(
        [
            *("openssl", "enc", "-aes-256-cbc", "-pbkdf2", "-pass", "pass:selftest"),
            *("-in", str(source), "-out", str(target)),
        ],
        check=True,
        timeout=30,
    )


ENCRYPTIONS: dict[str, Callable[[Path, Path], None]] = {
    "openssl": _openssl,
    "gpg-symmetric": gpg,
    "gpg-armored": lambda s, t: gpg(s, t, armor=True),
    "gpg-public-key": lambda s, t: gpg(s, t, public_key=True),
}


def _rewrite_all(directory: Path, transform: Callable[[Path, Path], None]) -> None:
    """Replace every backup by ``transform`` of it, keeping its name and mtime."""
    for dump in directory.glob("lms_*.dump"):
        stat = dump.stat()
        transform(dump, dump.with_suffix(".new"))
        os.replace(dump.with_suffix(".new"), dump)
        keep_mtime(dump, stat.st_mtime)


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("gpg")), reason="no openssl/gpg")
@pytest.mark.parametrize("kind", list(ENCRYPTIONS))
def test_encrypted_dumps_pass_the_encryption_policy(
    tmp_path: Path, backup_dir: Path, pg_bin: str, kind: str
) -> None:
    for old in sorted(backup_dir.glob("lms_*.dump"))[:-7]:
        old.unlink()  # the check reads the last 7; fewer files keep gpg's key generation short
    _rewrite_all(backup_dir, ENCRYPTIONS[kind])
    run = daily(tmp_path, config(backup_dir, pg_bin, encrypted=True))
    assert run.only("test_backups_are_encrypted").outcome == "passed", run.output
    assert run.only("test_newest_backup_is_a_restorable").outcome == "skipped"
    assert run.only("test_newest_backup_is_younger").outcome == "passed", run.output


def _compress(tool: str) -> Callable[[Path, Path], None]:
    def compress(source: Path, target: Path) -> None:
        with source.open("rb") as raw, target.open("wb") as out:
            subprocess.run([tool, "-c"], stdin=raw, stdout=out, check=True, timeout=60)

    return compress


NOT_ENCRYPTED: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "xz": (_compress("xz"), "an xz stream, not encrypted"),
    "zstd": (_compress("zstd"), "a zstd stream, not encrypted"),
    "bzip2": (_compress("bzip2"), "a bzip2 stream, not encrypted"),
    "random": (
        lambda s, t: t.write_bytes(os.urandom(s.stat().st_size)),
        "unrecognised bytes: no known dump, compression or encryption header",
    ),
    # A custom-format dump cut after 3 bytes (a full disk): "PGD" is no known header.
    "truncated": (lambda s, t: t.write_bytes(s.read_bytes()[:3]), "unrecognised bytes"),
}


@pytest.mark.parametrize("kind", list(NOT_ENCRYPTED))
def test_compressed_random_or_truncated_files_are_not_taken_for_encrypted(
    tmp_path: Path, backup_dir: Path, pg_bin: str, dumps: dict[str, Path], kind: str
) -> None:
    transform, described = NOT_ENCRYPTED[kind]
    if kind in ("xz", "zstd", "bzip2") and shutil.which(kind) is None:
        pytest.skip(f"{kind} is absent")
    if kind in ("xz", "zstd", "bzip2"):
        for dump in backup_dir.glob("lms_*.dump"):  # plain SQL, as pg_dump | xz writes it
            shutil.copyfile(dumps["plain"], dump)
    _rewrite_all(backup_dir, transform)
    result = daily(tmp_path, config(backup_dir, pg_bin, encrypted=True)).only(
        "test_backups_are_encrypted"
    )
    assert result.outcome == "failed", result.message
    assert "7 of the last 7 backup(s)" in result.message and "not recognisably encrypted" in (
        result.message
    )
    assert f"{newest(backup_dir).name} is {described}" in result.message


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


# -- time zones: names in the backup host's local time -------------------------------------

UTC_PLUS_2 = "Europe/Kaliningrad"  # UTC+2 all year


def zoned(tmp_path: Path, shared_stack: stack.State, zone: str, **kwargs: Any) -> Path:
    directory = tmp_path / "backups" / "db"
    nightly_in_zone(shared_stack.postgres, directory, zone, **kwargs)
    return directory


def assert_green(run: SuiteRun) -> None:
    __tracebackhide__ = True
    assert run.exit_code == 0, run.output
    assert_all_passed_but_encryption_not_applicable(run)


def test_backup_host_in_utc_plus_2_passes_with_its_zone_and_bkp02_names_the_zone_without(
    tmp_path: Path, shared_stack: stack.State, pg_bin: str
) -> None:
    # The LMS layout: names from Get-Date on a UTC+2 host, pg_dump in a UTC container.
    directory = zoned(tmp_path, shared_stack, UTC_PLUS_2)
    assert_green(daily(tmp_path / "zoned", config(directory, pg_bin, timezone=UTC_PLUS_2)))
    run = daily(tmp_path / "utc", config(directory, pg_bin))
    clock = run.only("test_backup_times_agree")
    assert clock.outcome == "failed"
    assert f"31 of 31 backup(s) in {directory} on local://" in clock.message
    assert "(read as UTC local time)" in clock.message and "tolerance is 1h" in clock.message
    assert "every name reads as local time UTC+2 (e.g. Europe/" in clock.message
    assert "set artifacts.backups.timezone to the backup host's zone" in clock.message
    assert "NTP" not in clock.message.splitlines()[0]  # the finding; the remediation may say it


def test_backup_host_crossing_a_dst_change_passes(
    tmp_path: Path, shared_stack: stack.State, pg_bin: str
) -> None:
    # A real TZif zone (zic) that left DST 10 days ago: the nightly backups span the change.
    change = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=10)
    zone_dir, zone = shifting_zone(tmp_path, change)
    directory = zoned(tmp_path, shared_stack, zone, zone_dir=zone_dir)
    environ = {"PYTHONTZPATH": f"{zone_dir}{os.pathsep}/usr/share/zoneinfo"}
    run = daily(tmp_path / "dst", config(directory, pg_bin, timezone=zone), env=environ)
    assert_green(run)
    wrong = daily(tmp_path / "utc", config(directory, pg_bin), env=environ)
    message = wrong.only("test_backup_times_agree").message
    assert "every name reads as local time UTC+1/UTC+2" in message, message


def test_clock_problem_is_not_blamed_on_the_zone(
    tmp_path: Path, backup_dir: Path, pg_bin: str
) -> None:
    for days in (3, 11):
        by_age(backup_dir, days).touch()  # rewritten today under an old name
    message = daily(tmp_path, config(backup_dir, pg_bin)).only("test_backup_times_agree").message
    assert "2 of 31 backup(s)" in message
    assert "no time zone explains it: check the backup host's clock (NTP)" in message


def test_pg_dump_in_the_hosts_zone_needs_archive_timezone(
    tmp_path: Path, shared_stack: stack.State, pg_bin: str
) -> None:
    # pg_dump run natively on a UTC+2 host: its archive header holds UTC+2 local time too.
    directory = zoned(tmp_path, shared_stack, UTC_PLUS_2, archive_zone=UTC_PLUS_2)
    cfg = config(directory, pg_bin, timezone=UTC_PLUS_2)
    run = daily(tmp_path / "utc-archive", cfg)
    clock = run.only("test_backup_times_agree")
    assert clock.outcome == "failed"
    assert "archive header says it was created at " in clock.message
    assert "(read as UTC), 2h from the time in its name; tolerance is 1h" in clock.message
    assert "its header time reads as local time UTC+2" in clock.message
    assert "set artifacts.backups.archive_timezone" in clock.message
    cfg = config(directory, pg_bin, timezone=UTC_PLUS_2, archive_timezone=UTC_PLUS_2)
    assert_green(daily(tmp_path / "both", cfg))


def test_old_archive_under_a_fresh_name_fails_rpo_and_the_time_check(
    tmp_path: Path, backup_dir: Path, pg_bin: str
) -> None:
    renamed = newest(backup_dir)
    mtime = renamed.stat().st_mtime
    age_archive_header(renamed, days=88)
    keep_mtime(renamed, mtime)
    run = daily(tmp_path, config(backup_dir, pg_bin))
    rpo = run.only("test_newest_backup_is_younger")
    assert rpo.outcome == "failed"
    assert f"backup {renamed.name} is 88d" in rpo.message
    assert "old by its archive header (created at " in rpo.message and "RPO is 1d" in rpo.message
    clock = run.only("test_backup_times_agree")
    assert clock.outcome == "failed"
    assert f"backup {renamed.name}'s archive header says it was created at " in clock.message
    assert "-88d" in clock.message and "no time zone explains it" in clock.message


# -- checks that examined nothing must not pass --------------------------------------------


@pytest.mark.parametrize("emptiness", ["empty_folder", "pattern_matches_nothing"])
def test_nothing_to_examine_fails_every_backup_check(
    tmp_path: Path, backup_dir: Path, pg_bin: str, emptiness: str
) -> None:
    extra: dict[str, Any] = {}
    if emptiness == "empty_folder":
        for dump in backup_dir.glob("*"):
            dump.unlink()
    else:
        extra["pattern"] = r"lms_backup_(?P<stamp>\d{8}_\d{6})\.sql\.gz"
    run = daily(tmp_path, config(backup_dir, pg_bin, **extra))
    outcomes = {name: r.outcome for name, r in run.checks.items()}
    assert outcomes.pop("test_backups_are_encrypted_where_policy_requires") == "skipped"
    assert set(outcomes.values()) == {"failed"}, run.output
    for prefix in ("test_backup_times_agree", "test_no_backup_is_kept_past"):
        message = run.only(prefix).message
        assert f"in {backup_dir} on local://: 0 backups examined, nothing to verify" in message


# -- the catalogue ignores symbolic links; evidence stays small ------------------------------


def test_a_link_named_like_a_fresh_backup_is_ignored(
    tmp_path: Path, backup_dir: Path, pg_bin: str
) -> None:
    for _ in range(2):
        newest(backup_dir).unlink()
    real = newest(backup_dir)
    link = backup_dir / backup_name(datetime.now(UTC) - timedelta(minutes=5))
    os.symlink(real, link)
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_newest_backup_is_younger")
    assert result.outcome == "failed", result.message
    assert f"backup {real.name} is 2d" in result.message and link.name not in result.message


def test_many_backups_past_retention_are_counted_not_listed(
    tmp_path: Path, backup_dir: Path, pg_bin: str
) -> None:
    for days in range(40, 100):
        place(backup_dir, newest(backup_dir), datetime.now(UTC) - timedelta(days=days))
    result = daily(tmp_path, config(backup_dir, pg_bin)).only("test_no_backup_is_kept_past")
    assert result.outcome == "failed"
    evidence = result.properties["evidence.past_retention"]
    assert evidence.startswith("[lms_") and evidence.count("lms_") == 10
    assert ", … 50 more]" in evidence
