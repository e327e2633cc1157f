"""Unit tests for the restore-drill transcript parser and writer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lms_opscheck.probes.drill_log import (
    DRILL_LOG_NAME,
    SUITE,
    decode_log,
    drill_log_time,
    parse_drill_log,
)
from lms_opscheck.probes.drill_record import HEADER as SUITE_HEADER
from lms_opscheck.probes.drill_record import DrillRecorder

HEADER = """**********************
Windows PowerShell transcript start
Start time: 20261128002019
Username: HOST\\ops
RunAs User: HOST\\ops
Machine: HOST (Microsoft Windows NT 10.0.20348.0)
Host Application: powershell.exe -File restore_drill.ps1
Process ID: 4242
**********************
"""
FOOTER = """**********************
Windows PowerShell transcript end
End time: 20261128002104
**********************
"""
DUMP = "C:\\lms\\backups\\db\\lms_20261128_002019.dump"
UP_TO_RESTORE = f"""==> Restore drill started at 2026-11-28T00:20:19.4406198+00:00
Compose file: C:\\lms\\docker-compose.prod.yml
Drill DB: lms_restore_drill_20261128_002019
==> Creating fresh backup
[backup_db] Writing backup to {DUMP}
[backup_db] Backup completed: {DUMP}
Backup file: {DUMP}
==> Creating drill database
==> Copying backup into db container
==> Restoring backup into drill database
"""
SUCCESS = (
    HEADER
    + UP_TO_RESTORE
    + """==> Running restore validation checks
Restore validation passed. Table count: 19
==> Restore drill completed successfully
Log file: C:\\lms\\backups\\drill_logs\\restore_drill_20261128_002019.log
"""
    + FOOTER
)
VALIDATION_MESSAGE = "Restore validation failed: expected at least 8 tables, got 3"
VALIDATION_FAILURE = (
    HEADER
    + UP_TO_RESTORE
    + f"""==> Running restore validation checks
PS>TerminatingError(): "{VALIDATION_MESSAGE}"
{VALIDATION_MESSAGE}
At C:\\lms\\scripts\\restore_drill.ps1:88 char:5
+     throw "{VALIDATION_MESSAGE}"
+     ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    + CategoryInfo          : OperationStopped: (Restore validat...ables, got 3:String) [], \
RuntimeException
    + FullyQualifiedErrorId : {VALIDATION_MESSAGE}
"""
    + FOOTER
)
COMPOSE_MESSAGE = (
    "docker compose command failed: exit code 1 (cp C:\\lms\\backups\\db\\lms_20261128_002019.dump"
    " db:/tmp/restore.dump)"
)
COMPOSE_FAILURE = (
    HEADER
    + UP_TO_RESTORE.split("==> Restoring")[0]
    + f"""{COMPOSE_MESSAGE}
At C:\\lms\\scripts\\restore_drill.ps1:23 char:9
+         throw "docker compose command failed: exit code $LASTEXITCODE ($Args)"
+         ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    + CategoryInfo          : OperationStopped: (docker compose ...store.dump):String) [], \
RuntimeException
    + FullyQualifiedErrorId : {COMPOSE_MESSAGE}
"""
    + FOOTER
)
HALF_WAY = HEADER + UP_TO_RESTORE


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "utf8-crlf": lambda text: crlf(text).encode("utf-8"),
    "utf8-bom-crlf": lambda text: b"\xef\xbb\xbf" + crlf(text).encode("utf-8"),
    "utf16le-bom-crlf": lambda text: ("\ufeff" + crlf(text)).encode("utf-16-le"),
    "utf16le-nobom-crlf": lambda text: crlf(text).encode("utf-16-le"),
    "utf16be-bom-crlf": lambda text: ("\ufeff" + crlf(text)).encode("utf-16-be"),
    "utf8-lf": lambda text: text.encode("utf-8"),
}
encodings = pytest.mark.parametrize("encode", ENCODINGS.values(), ids=list(ENCODINGS))

STARTED = datetime(2026, 11, 28, 0, 20, 19, tzinfo=UTC)
ENDED = datetime(2026, 11, 28, 0, 21, 4, tzinfo=UTC)


@encodings
def test_successful_drill(encode: Callable[[str], bytes]) -> None:
    log = parse_drill_log(encode(SUCCESS))
    assert log.succeeded and log.complete
    assert log.error is None
    assert log.table_count == 19
    assert log.started_at == STARTED
    assert log.ended_at == ENDED
    assert log.duration == timedelta(seconds=45)
    assert log.drill_database == "lms_restore_drill_20261128_002019"
    assert log.backup_file == DUMP
    assert log.last_step == "Restore drill completed successfully"


@encodings
def test_validation_failure_is_quoted(encode: Callable[[str], bytes]) -> None:
    log = parse_drill_log(encode(VALIDATION_FAILURE))
    assert not log.succeeded
    assert log.complete
    assert log.error == VALIDATION_MESSAGE
    assert log.table_count == 3
    assert log.last_step == "Running restore validation checks"


def test_validation_failure_without_terminating_error_line() -> None:
    text = VALIDATION_FAILURE.replace(f'PS>TerminatingError(): "{VALIDATION_MESSAGE}"\n', "")
    log = parse_drill_log(crlf(text))
    assert log.error == VALIDATION_MESSAGE
    assert log.table_count == 3


@encodings
def test_docker_compose_failure(encode: Callable[[str], bytes]) -> None:
    log = parse_drill_log(encode(COMPOSE_FAILURE))
    assert not log.succeeded
    assert log.error == COMPOSE_MESSAGE
    assert log.table_count is None
    assert log.last_step == "Copying backup into db container"
    assert log.duration == timedelta(seconds=45)


@encodings
def test_drill_stopped_half_way(encode: Callable[[str], bytes]) -> None:
    log = parse_drill_log(encode(HALF_WAY))
    assert not log.succeeded
    assert not log.complete
    assert log.ended_at is None and log.duration is None
    assert log.error is None
    assert log.started_at == STARTED
    assert log.last_step == "Restoring backup into drill database"


def test_unrecognised_error_record_is_still_an_error() -> None:
    message = "Cannot find path 'C:\\lms\\backups\\db' because it does not exist."
    text = HALF_WAY + f"{message}\nAt C:\\lms\\scripts\\restore_drill.ps1:40 char:1\n" + FOOTER
    log = parse_drill_log(text)
    assert log.error == message
    assert not log.succeeded


def test_error_after_success_line_undoes_it() -> None:
    text = SUCCESS.replace("Log file:", "Drop of drill database failed: in use\nLog file:")
    log = parse_drill_log(text)
    assert not log.succeeded
    assert log.error == "Drop of drill database failed: in use"


def test_warning_after_success_line_does_not_undo_it() -> None:
    text = SUCCESS.replace("Log file:", "WARNING: cleanup failed: retrying\nLog file:")
    log = parse_drill_log(text)
    assert log.succeeded and log.error is None


def test_success_word_is_not_a_success_line() -> None:
    text = (
        HEADER
        + UP_TO_RESTORE
        + "[backup_db] pg_dump exit status: SUCCESS\n==> Running restore validation checks\n"
        + "Validation step: SUCCESS (pending count)\n"
        + FOOTER
    )
    log = parse_drill_log(crlf(text).encode("utf-8"))
    assert not log.succeeded
    assert log.complete
    assert log.error is None


@pytest.mark.parametrize("raw", [b"", "", b"\xef\xbb\xbf", b"\xff\xfe"])
def test_empty_file(raw: bytes | str) -> None:
    log = parse_drill_log(raw)
    assert not log.succeeded and not log.complete
    assert log.started_at is None and log.ended_at is None
    assert log.error is None and log.last_step is None and log.table_count is None


@pytest.mark.parametrize(
    "raw",
    [
        bytes(range(256)) * 4,
        b"\xff\xfe\x00\xd8\x41",
        b"\xc3\x28\xa0\xa1\xe2\x82\x28\xf0\x28\x8c\xbc\x00\x00\x00",
        b"\x00" * 64,
    ],
    ids=["all-bytes", "lone-surrogate", "invalid-utf8", "nuls"],
)
def test_garbage_bytes_never_raise(raw: bytes) -> None:
    assert isinstance(decode_log(raw), str)
    log = parse_drill_log(raw)
    assert not log.succeeded
    assert log.drill_database is None and log.backup_file is None


def test_decode_normalises_line_endings_and_replaces_bad_bytes() -> None:
    assert decode_log(b"a\r\nb\rc\n") == "a\nb\nc\n"
    assert decode_log(b"ok \xff\n") == "ok \ufffd\n"
    assert decode_log("\ufeffStart\r\n".encode("utf-16-le")) == "Start\n"
    assert decode_log("x\r\n".encode("utf-16-le") + b"\x00" * 8) == "x\n"


def test_start_falls_back_to_script_line_with_seven_fraction_digits() -> None:
    text = SUCCESS.replace("Start time: 20261128002019\n", "").replace(
        "2026-11-28T00:20:19.4406198+00:00", "2026-11-28T01:20:19.4406198+01:00"
    )
    log = parse_drill_log(text)
    assert log.started_at == datetime(2026, 11, 28, 0, 20, 19, 440619, tzinfo=UTC)
    assert log.succeeded


def test_transcript_times_are_read_in_the_drill_hosts_zone() -> None:
    # 00:20:19 on a UTC+1 (Europe/Berlin, November) host is 23:20:19 UTC the day before.
    log = parse_drill_log(SUCCESS, "Europe/Berlin")
    assert log.started_at == datetime(2026, 11, 27, 23, 20, 19, tzinfo=UTC)
    assert log.duration == timedelta(seconds=45)


def test_transcript_across_the_dst_change_keeps_its_real_duration() -> None:
    # Europe/Berlin, 2026-10-25: at 03:00 CEST clocks go back to 02:00 CET, so 02:xx happens
    # twice. The drill starts at 02:59:50 CEST (its script line says +02:00) and ends at
    # 02:00:20 CET, 30 s later: the end is the first reading not before the start.
    text = (
        SUCCESS.replace("Start time: 20261128002019", "Start time: 20261025025950")
        .replace("End time: 20261128002104", "End time: 20261025020020")
        .replace("2026-11-28T00:20:19.4406198+00:00", "2026-10-25T02:59:50.1000000+02:00")
    )
    log = parse_drill_log(text, "Europe/Berlin")
    assert log.started_at == datetime(2026, 10, 25, 0, 59, 50, tzinfo=UTC)
    assert log.ended_at == datetime(2026, 10, 25, 1, 0, 20, tzinfo=UTC)
    assert log.duration == timedelta(seconds=30)
    # The second 02:30 (CET, as the script line's +01:00 shows) is 01:30 UTC, not 00:30.
    late = SUCCESS.replace("Start time: 20261128002019", "Start time: 20261025023000").replace(
        "2026-11-28T00:20:19.4406198+00:00", "2026-10-25T02:30:00.1000000+01:00"
    )
    assert parse_drill_log(late, "Europe/Berlin").started_at == datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC
    )


def _suite_log(tmp_path: Path, error: str | None, tables: int | None, ended: bool) -> bytes:
    log = tmp_path / "restore_drill_20261129_033000.log"
    recorder = DrillRecorder(log)
    recorder.field("started_at", datetime(2026, 11, 29, 3, 30, 0, 123456, tzinfo=UTC))
    recorder.field("backup", "lms_20261129_020000.dump")
    recorder.field("backup_path", "/srv/lms/backups/db/lms_20261129_020000.dump")
    recorder.field("backup_created_at", datetime(2026, 11, 29, 2, 0, 1, tzinfo=UTC))
    recorder.field("scratch_database", "lms_restore_drill_20261129_033000")
    recorder.step("created database lms_restore_drill_20261129_033000")
    if tables is not None:
        recorder.field("tables", tables)
        recorder.validation("tables", tables >= 8, f"{tables} public tables")
    recorder.field("restore", "succeeded" if error is None else f"failed: {error}")
    if ended:
        recorder.field("ended_at", datetime(2026, 11, 29, 3, 31, 15, tzinfo=UTC))
    recorder.close()
    return log.read_bytes()


@pytest.mark.parametrize(
    ("error", "tables", "ended"),
    [(None, 19, True), ("pg_restore failed: pg_restore: error: bad", None, True), (None, 3, False)],
    ids=["restored", "failed", "cut-off"],
)
def test_suites_own_log_reads_back(
    tmp_path: Path, error: str | None, tables: int | None, ended: bool
) -> None:
    raw = _suite_log(tmp_path, error, tables, ended)
    assert raw.decode().splitlines()[0] == SUITE_HEADER
    assert b"PowerShell" not in raw and b"Creating fresh backup" not in raw
    log = parse_drill_log(raw)
    assert log.format == SUITE
    assert log.started_at == datetime(2026, 11, 29, 3, 30, 0, 123456, tzinfo=UTC)
    assert log.backup_name == "lms_20261129_020000.dump"
    assert log.backup_created_at == datetime(2026, 11, 29, 2, 0, 1, tzinfo=UTC)
    assert log.drill_database == "lms_restore_drill_20261129_033000"
    assert log.table_count == tables
    assert log.complete is ended
    assert log.succeeded is (error is None and ended)
    assert log.error == error
    assert log.last_step == "created database lms_restore_drill_20261129_033000"


def test_a_medium_finding_in_the_suites_log_does_not_fail_the_restore(tmp_path: Path) -> None:
    log = tmp_path / "restore_drill_20261129_033000.log"
    recorder = DrillRecorder(log)
    recorder.field("started_at", datetime(2026, 11, 29, 3, 30, tzinfo=UTC))
    recorder.validation("rows_as_of_the_dump", False, "users 180 restored, 200 in the source")
    recorder.field("restore", "succeeded")
    recorder.field("ended_at", datetime(2026, 11, 29, 3, 31, tzinfo=UTC))
    recorder.close()
    parsed = parse_drill_log(log.read_bytes())
    assert parsed.succeeded and parsed.error is None


def test_suites_log_is_redacted_and_one_line_per_field(tmp_path: Path) -> None:
    from lms_opscheck.probes import redaction

    redaction.register(["hunter2-canary"])
    log = tmp_path / "restore_drill_20261129_033000.log"
    recorder = DrillRecorder(log)
    recorder.field("restore", "failed: password hunter2-canary\nrejected")
    recorder.close()
    text = log.read_text()
    assert "hunter2-canary" not in text
    assert (
        text.splitlines()[1].startswith("restore: failed: password ")
        and len(text.splitlines()) == 2
    )


def test_drill_log_name_and_time() -> None:
    match = DRILL_LOG_NAME.match("restore_drill_20261128_002019.log")
    assert match is not None and match.group("year") == "2026" and match.group("second") == "19"
    assert drill_log_time("restore_drill_20261128_002019.log") == STARTED
    windows_path = "C:\\lms\\backups\\drill_logs\\restore_drill_20261128_002019.log"
    assert drill_log_time(windows_path) == STARTED
    assert drill_log_time("/srv/drill_logs/restore_drill_20261128_002019.log") == STARTED
    assert drill_log_time("restore_drill_20261399_002019.log") is None
    assert drill_log_time("restore_drill_20261128_002019.log.bak") is None
    assert drill_log_time("lms_20261128_002019.dump") is None
    assert drill_log_time("restore_drill_20261128_002019.log", "Europe/Berlin") == datetime(
        2026, 11, 27, 23, 20, 19, tzinfo=UTC
    )
