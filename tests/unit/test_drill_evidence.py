"""Unit tests of the drill-log catalogue, the verdict on a transcript, and the policy arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lms_opscheck.probes.drill_evidence import (
    drill_logs,
    newest_backup,
    read_drill,
    retention_floor,
    stamped_files,
)
from lms_opscheck.probes.drill_log import format_drill_log
from lms_opscheck.probes.errors import Unreadable

PATTERN = r"restore_drill_(?P<stamp>\d{8}_\d{6})\.log"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _log(started: datetime, *, error: str | None = None, tables: int | None = 19) -> str:
    return format_drill_log(
        started_at=started,
        ended_at=started + timedelta(seconds=41),
        drill_database=f"lms_restore_drill_{started:%Y%m%d_%H%M%S}",
        source="unit",
        backup_file="lms_20261128_020000.dump",
        table_count=tables,
        error=error,
        log_file="x.log",
    )


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


def test_missing_folder_is_unreadable_naming_it(tmp_path: Path) -> None:
    with pytest.raises(Unreadable, match="does not exist"):
        stamped_files(tmp_path / "gone", PATTERN, f"{tmp_path}/gone on local")


def test_no_backup_to_restore_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(Unreadable, match="no backup matching"):
        newest_backup(tmp_path, r"lms_(?P<stamp>\d{8}_\d{6})\.dump", "here")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_log(NOW), ""),
        (
            _log(NOW, error="Restore validation failed: expected at least 8 tables, got 3"),
            "failed: 'Restore validation failed: expected at least 8 tables, got 3'",
        ),
        (
            _log(NOW).split("==> Running restore validation")[0],
            "stops after step 'Restoring backup into drill database' without 'Restore drill "
            "completed successfully' (truncated)",
        ),
        (_strip_footer(_log(NOW)), "has no 'PowerShell transcript end' footer"),
    ],
    ids=["success", "validation-failed", "stopped-half-way", "no-footer"],
)
def test_outcome_quotes_the_transcript(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "restore_drill_20261128_120000.log"
    # Written as Windows would: UTF-16 with a byte-order mark and CRLF line endings.
    path.write_bytes(b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le"))
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
