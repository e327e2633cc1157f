"""Unit tests of the drill-log catalogue, the verdict on a log, and the policy arithmetic."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lms_opscheck.probes.backups import Catalogue, entries_to_backups
from lms_opscheck.probes.drill_evidence import (
    drill_logs,
    read_drill,
    restored_backup,
    retention_floor,
    stamped_files,
)
from lms_opscheck.probes.drill_record import DrillRecorder
from lms_opscheck.probes.errors import Unreadable
from tests.support.transcripts import transcript, windows

PATTERN = r"restore_drill_(?P<stamp>\d{8}_\d{6})\.log"
BACKUPS = r"lms_(?P<stamp>\d{8}_\d{6})\.dump"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def _strip_footer(text: str) -> str:
    return text[: text.index("**********************\nWindows PowerShell transcript end")]


def test_catalogue_orders_by_name_stamp_and_ignores_other_files(tmp_path: Path) -> None:
    for name in (
        "restore_drill_20261121_033000.log",
        "restore_drill_20261114_033000.log",
        "restore_drill_20261313_033000.log",  # month 13: not a stamp
        "notes.txt",
    ):
        (tmp_path / name).write_text("x")
    logs = drill_logs(tmp_path, PATTERN, "here", NOW)
    assert [f.name for f in logs.files] == [
        "restore_drill_20261114_033000.log",
        "restore_drill_20261121_033000.log",
    ]
    assert logs.newest is not None and logs.newest.age(NOW) == timedelta(
        days=7, hours=8, minutes=30
    )
    assert logs.span == timedelta(days=14, hours=8, minutes=30)
    assert "7d8h30m old" in logs.describe(logs.newest)


def test_names_are_read_in_the_locations_zone(tmp_path: Path) -> None:
    (tmp_path / "restore_drill_20261128_033000.log").write_text("x")  # 03:30 in Berlin
    logs = drill_logs(tmp_path, PATTERN, "here", NOW, timezone="Europe/Berlin")
    assert logs.newest is not None
    assert logs.newest.stamp == datetime(2026, 11, 28, 2, 30, tzinfo=UTC)


def test_symlinks_are_ignored_like_the_backup_catalogue_does(tmp_path: Path) -> None:
    real = tmp_path / "restore_drill_20261121_033000.log"
    real.write_text("x")
    os.symlink(real, tmp_path / "restore_drill_20261128_033000.log")
    assert [f.name for f in stamped_files(tmp_path, PATTERN, "here")] == [real.name]


def test_missing_folder_is_unreadable_naming_it(tmp_path: Path) -> None:
    with pytest.raises(Unreadable, match="does not exist"):
        stamped_files(tmp_path / "gone", PATTERN, f"{tmp_path}/gone on local")


SUCCESS = transcript(NOW, ended=NOW + timedelta(seconds=41))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SUCCESS, ""),
        (
            transcript(
                NOW,
                ended=NOW + timedelta(seconds=41),
                error="Restore validation failed: expected at least 8 tables, got 3",
            ),
            "failed: 'Restore validation failed: expected at least 8 tables, got 3'",
        ),
        (
            SUCCESS.split("==> Running restore validation")[0],
            "stops after step 'Restoring backup into drill database' without 'Restore drill "
            "completed successfully' (truncated)",
        ),
        (_strip_footer(SUCCESS), "has no 'PowerShell transcript end' footer"),
    ],
    ids=["success", "validation-failed", "stopped-half-way", "no-footer"],
)
def test_outcome_quotes_the_transcript(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "restore_drill_20261128_120000.log").write_bytes(windows(text))
    (file,) = stamped_files(tmp_path, PATTERN, "here")
    outcome = read_drill(file, "here").outcome
    assert outcome.startswith(expected) if expected else outcome == ""


def _suite_log(path: Path, *, restore: str | None, ended: bool = True) -> None:
    recorder = DrillRecorder(path)
    recorder.field("started_at", NOW)
    recorder.field("backup", "lms_20261128_020000.dump")
    recorder.step("created database lms_restore_drill_20261128_120000")
    if restore is not None:
        recorder.field("restore", restore)
    if ended:
        recorder.field("ended_at", NOW + timedelta(seconds=30))
    recorder.close()


@pytest.mark.parametrize(
    ("restore", "ended", "expected"),
    [
        ("succeeded", True, ""),
        (
            "failed: pg_restore failed: pg_restore: error: x",
            True,
            "says restore: failed: 'pg_restore failed",
        ),
        (
            "interrupted: SIGTERM received while restoring",
            True,
            "says restore: interrupted: 'SIGTERM received",
        ),
        ("error: could not examine the restored copy: x", True, "says restore: error: 'could"),
        (None, False, "stops after step 'created database"),
        ("succeeded", False, "stops after step 'created database"),
    ],
    ids=["succeeded", "failed", "interrupted", "error", "cut-off", "no-ended-at"],
)
def test_outcome_of_the_suites_own_log(
    tmp_path: Path, restore: str | None, ended: bool, expected: str
) -> None:
    _suite_log(tmp_path / "restore_drill_20261128_120000.log", restore=restore, ended=ended)
    (file,) = stamped_files(tmp_path, PATTERN, "here")
    outcome = read_drill(file, "here").outcome
    assert outcome.startswith(expected) if expected else outcome == ""


def test_retention_floor_allows_one_interval_and_the_grace() -> None:
    days = timedelta(days=1)
    assert retention_floor(90 * days, 7 * days, 1 * days) == 82 * days
    assert retention_floor(5 * days, 7 * days, 1 * days) == timedelta(0)


def test_future_dated_logs_are_set_apart_and_never_the_newest(tmp_path: Path) -> None:
    for name in (
        "restore_drill_20261114_033000.log",  # 14d old: the newest genuine drill
        "restore_drill_20261128_123000.log",  # 30m ahead: within the 1h clock tolerance
        "restore_drill_20261201_120000.log",  # 3d ahead
    ):
        (tmp_path / name).write_text("x")
    logs = drill_logs(tmp_path, PATTERN, "here", NOW, tolerance=timedelta(hours=1))
    assert [f.name for f in logs.future] == ["restore_drill_20261201_120000.log"]
    assert logs.newest is not None and logs.newest.name == "restore_drill_20261128_123000.log"
    assert logs.ahead(logs.future[0]) == "restore_drill_20261201_120000.log is 3d ahead"
    strict = drill_logs(tmp_path, PATTERN, "here", NOW)
    assert strict.newest is not None and strict.newest.name == "restore_drill_20261114_033000.log"
    assert len(strict.future) == 2


def _backups(*names: str, timezone: str = "UTC") -> Catalogue:
    entries = [(n, 100, NOW.timestamp()) for n in names]
    found = entries_to_backups(entries, BACKUPS, timezone)
    return Catalogue("/b", "local://", BACKUPS, timezone, found, NOW)


def test_restored_backup_from_a_transcript_is_dated_by_its_name(tmp_path: Path) -> None:
    started = datetime(2026, 11, 28, 3, 30, tzinfo=BERLIN)
    text = transcript(started, ended=started + timedelta(seconds=40))
    (tmp_path / "restore_drill_20261128_033000.log").write_text(text)
    (file,) = stamped_files(tmp_path, PATTERN, "here", "Europe/Berlin")
    drill = read_drill(file, "here", "Europe/Berlin")
    catalogue = _backups("lms_20261127_020000.dump", timezone="Europe/Berlin")
    found = restored_backup(drill, catalogue)
    assert found.name == "lms_20261128_033000.dump" and found.problem is None
    assert found.taken_at == datetime(2026, 11, 28, 2, 30, tzinfo=UTC)
    assert found.newest_then is not None and found.newest_then.name == "lms_20261127_020000.dump"
    assert found.lag is not None and found.lag < timedelta(0)  # fresher than the newest nightly


def test_restored_backup_from_last_year_lags_the_newest_at_drill_time(tmp_path: Path) -> None:
    old = "C:\\lms\\backups\\db\\lms_20251128_020000.dump"
    text = transcript(NOW, ended=NOW + timedelta(seconds=40), backup=old)
    (tmp_path / "restore_drill_20261128_120000.log").write_text(text)
    (file,) = stamped_files(tmp_path, PATTERN, "here")
    found = restored_backup(read_drill(file, "here"), _backups("lms_20261128_020000.dump"))
    assert found.name == "lms_20251128_020000.dump"
    assert found.lag == timedelta(days=365)


def test_suites_log_dates_the_restored_backup_by_the_older_of_name_and_archive(
    tmp_path: Path,
) -> None:
    log = tmp_path / "restore_drill_20261128_120000.log"
    recorder = DrillRecorder(log)
    recorder.field("started_at", NOW)
    recorder.field("backup", "lms_20261128_020000.dump")
    recorder.field("backup_created_at", NOW - timedelta(days=88))
    recorder.close()
    (file,) = stamped_files(tmp_path, PATTERN, "here")
    found = restored_backup(read_drill(file, "here"), _backups("lms_20261128_020000.dump"))
    assert found.taken_at == NOW - timedelta(days=88)


@pytest.mark.parametrize(
    ("backup", "problem"),
    [(None, "does not name the backup"), ("C:\\x\\latest.dump", "does not match the backup")],
)
def test_a_drill_that_cannot_be_tied_to_a_backup_says_why(
    tmp_path: Path, backup: str | None, problem: str
) -> None:
    text = transcript(NOW, ended=NOW + timedelta(seconds=40), backup=backup or "")
    if backup is None:
        text = "\n".join(ln for ln in text.splitlines() if "backup" not in ln.lower())
    (tmp_path / "restore_drill_20261128_120000.log").write_text(text)
    (file,) = stamped_files(tmp_path, PATTERN, "here")
    found = restored_backup(read_drill(file, "here"), _backups("lms_20261128_020000.dump"))
    assert found.problem is not None and problem in found.problem and found.lag is None
