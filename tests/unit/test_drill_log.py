"""Unit tests for the restore-drill transcript parser and writer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from lms_opscheck.probes.drill_log import (
    DRILL_LOG_NAME,
    decode_log,
    drill_log_time,
    format_drill_log,
    parse_drill_log,
)

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


def _render(error: str | None, table_count: int | None, ended: datetime | None) -> str:
    return format_drill_log(
        started_at=datetime(2026, 11, 29, 3, 30, 0, 123456, tzinfo=UTC),
        ended_at=ended,
        drill_database="lms_restore_drill_20261129_033000",
        source="sandbox postgres 127.0.0.1:55432/lms",
        backup_file="/srv/lms/backups/db/lms_20261129_033000.dump",
        table_count=table_count,
        error=error,
        log_file="/srv/lms/backups/drill_logs/restore_drill_20261129_033000.log",
    )


ROUND_TRIPS = [
    (None, 19, datetime(2026, 11, 29, 3, 31, 15, 999, tzinfo=UTC)),
    (VALIDATION_MESSAGE, 3, datetime(2026, 11, 29, 3, 31, 0, tzinfo=UTC)),
    ("pg_restore exited with code 1", 0, datetime(2026, 11, 29, 3, 31, 0, tzinfo=UTC)),
    (COMPOSE_MESSAGE, None, datetime(2026, 11, 29, 3, 30, 40, tzinfo=UTC)),
    ("killed", None, None),
]


@pytest.mark.parametrize(("error", "table_count", "ended"), ROUND_TRIPS)
def test_format_parse_round_trip(
    error: str | None, table_count: int | None, ended: datetime | None
) -> None:
    text = _render(error, table_count, ended)
    assert "\r" not in text and "Compose file" not in text
    log = parse_drill_log(text.encode("utf-8"))
    assert log.started_at == datetime(2026, 11, 29, 3, 30, 0, tzinfo=UTC)
    assert log.ended_at == (None if ended is None else ended.replace(microsecond=0))
    assert log.complete is (ended is not None)
    assert log.drill_database == "lms_restore_drill_20261129_033000"
    assert log.backup_file == "/srv/lms/backups/db/lms_20261129_033000.dump"
    assert log.table_count == table_count
    assert log.error == error
    assert log.succeeded is (error is None)


def test_formatted_failure_places_error_after_the_failing_step() -> None:
    lines = _render(VALIDATION_MESSAGE, 3, None).splitlines()
    assert lines[-1] == VALIDATION_MESSAGE
    assert "==> Running restore validation checks" in lines
    lines = _render(COMPOSE_MESSAGE, None, None).splitlines()
    assert "==> Running restore validation checks" not in lines
    assert parse_drill_log("\n".join(lines)).last_step == "Restoring backup into drill database"


def test_formatted_success_matches_the_script_lines() -> None:
    text = _render(None, 19, datetime(2026, 11, 29, 3, 31, tzinfo=UTC))
    assert text.startswith("**********************\nWindows PowerShell transcript start\n")
    assert "==> Restore drill started at 2026-11-29T03:30:00.1234560+00:00\n" in text
    assert "Restore validation passed. Table count: 19\n==> Restore drill completed" in text
    footer = "Windows PowerShell transcript end\nEnd time: 20261129033100\n" + "*" * 22 + "\n"
    assert text.endswith(footer)


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
