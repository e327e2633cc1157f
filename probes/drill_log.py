"""Read and write the restore drill's PowerShell-transcript log (restore_drill_*.log)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DRILL_LOG_NAME: re.Pattern[str] = re.compile(
    r"^restore_drill_(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})"
    r"_(?P<hour>\d{2})(?P<minute>\d{2})(?P<second>\d{2})\.log\Z"
)

_RULE = "*" * 22
_SUCCESS = "Restore drill completed successfully"
_STEP = "==> "
_START_TIME = re.compile(r"^Start time:\s*(\d{14})$")
_END_MARK = re.compile(r"^(?:Windows )?PowerShell transcript end$")
_END_TIME = re.compile(r"^End time:\s*(\d{14})$")
_STARTED_AT = re.compile(r"^==>\s*Restore drill started at\s+(\S+)")
_DRILL_DB = re.compile(r"^Drill DB:\s*(.+)$")
_BACKUP_FILE = re.compile(r"^Backup file:\s*(.+)$")
_TABLE_COUNT = re.compile(r"\bTable count:\s*(\d+)\b")
_GOT_COUNT = re.compile(r"^Restore validation failed:.*\bgot (\d+)\b")
_TERMINATING = re.compile(r'^(?:PS>|>>\s*)TerminatingError\([^)]*\):\s*"(.*)"$')
# "<what> failed: <why>" is how the drill script words every throw; the text before the first
# colon must contain "failed" so that "Log file: C:\failed\..." style values never match.
_FAILED = re.compile(r"^(?:\[[^\]]*\]\s*)?[^\s:+\[][^:]*?\bfailed\b[^:]*:", re.IGNORECASE)
_ERROR_WORD = re.compile(r"^(?:error|fatal)\s*:", re.IGNORECASE)
# PowerShell error records put the message on the line right above the script location.
_AT_LOCATION = re.compile(r"^At .+:\d+ char:\d+$")
# Warnings and verbose output can mention failures without the drill having failed.
_STREAM_PREFIXES = ("WARNING:", "VERBOSE:", "DEBUG:", "INFO:")
# .NET's round-trip format has 7 fractional digits; keep fromisoformat to the 6 it guarantees.
_EXTRA_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True)
class DrillLog:
    """What one restore-drill transcript says happened."""

    started_at: datetime | None
    ended_at: datetime | None
    drill_database: str | None
    backup_file: str | None
    table_count: int | None
    succeeded: bool
    complete: bool
    error: str | None
    last_step: str | None

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


def decode_log(raw: bytes) -> str:
    """Decode a transcript whatever encoding Windows chose, with LF line endings; never raises."""
    if raw.startswith(b"\xef\xbb\xbf"):
        text = raw[3:].decode("utf-8", errors="replace")
    elif raw.startswith(b"\xff\xfe"):
        text = raw[2:].decode("utf-16-le", errors="replace")
    elif raw.startswith(b"\xfe\xff"):
        text = raw[2:].decode("utf-16-be", errors="replace")
    elif len(raw) >= 2 and raw.count(0) * 4 >= len(raw):
        # BOM-less UTF-16 of mostly-ASCII text has a NUL in every other byte.
        odd_nuls = raw[1::2].count(0)
        even_nuls = raw[0::2].count(0)
        codec = "utf-16-le" if odd_nuls >= even_nuls else "utf-16-be"
        text = raw.decode(codec, errors="replace")
    else:
        text = raw.decode("utf-8", errors="replace")
    return _normalise(text)


def _normalise(text: str) -> str:
    # Appended transcripts can carry a BOM mid-file, and a host that lost power leaves the
    # preallocated tail as NULs; neither is content, and both would defeat line-anchored matching.
    text = text.replace("\ufeff", "").replace("\x00", "")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _stamp(digits: str) -> datetime | None:
    # The transcript header has no zone; the drill host runs in UTC, so read it as UTC.
    try:
        return datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _iso(value: str) -> datetime | None:
    try:
        return _as_utc(datetime.fromisoformat(_EXTRA_FRACTION.sub(r"\1", value, count=1)))
    except ValueError:
        return None


def _error_at(lines: list[str], index: int) -> tuple[str, bool] | None:
    """The error text on this line and whether its wording is conclusive, or None."""
    line = lines[index]
    if not line or line.startswith(("+", "~")) or line.startswith(_STREAM_PREFIXES):
        return None
    terminating = _TERMINATING.match(line)
    if terminating:
        message = terminating.group(1).strip()
        return (message, True) if message else None
    if _FAILED.match(line) or _ERROR_WORD.match(line):
        return line, True
    if index + 1 < len(lines) and _AT_LOCATION.match(lines[index + 1]):
        return line, False
    return None


def _first_error(lines: list[str], after: int) -> str | None:
    found = [hit for i in range(after + 1, len(lines)) if (hit := _error_at(lines, i))]
    # A recognisable "... failed: ..." beats a generic error record that merely came first,
    # e.g. a native command's stderr noise before the script's own throw.
    for conclusive in (True, False):
        for text, strong in found:
            if strong is conclusive:
                return text
    return None


def parse_drill_log(raw: bytes | str) -> DrillLog:
    """Parse a restore-drill transcript from the LMS script or from this suite's own drill."""
    text = decode_log(raw) if isinstance(raw, bytes) else _normalise(raw)
    lines = [line.strip() for line in text.split("\n")]
    header_start: datetime | None = None
    script_start: datetime | None = None
    ended_at: datetime | None = None
    complete = False
    drill_database: str | None = None
    backup_file: str | None = None
    table_count: int | None = None
    last_step: str | None = None
    success_index: int | None = None
    for index, line in enumerate(lines):
        if line.startswith(_STEP):
            last_step = line[len(_STEP) :].strip() or last_step
            if line[len(_STEP) :].startswith(_SUCCESS):
                success_index = index
        if header_start is None and (match := _START_TIME.match(line)):
            header_start = _stamp(match.group(1))
        elif script_start is None and (match := _STARTED_AT.match(line)):
            script_start = _iso(match.group(1))
        elif _END_MARK.match(line):
            complete = True
        elif complete and ended_at is None and (match := _END_TIME.match(line)):
            ended_at = _stamp(match.group(1))
        elif drill_database is None and (match := _DRILL_DB.match(line)):
            drill_database = match.group(1).strip()
        elif backup_file is None and (match := _BACKUP_FILE.match(line)):
            backup_file = match.group(1).strip()
        elif (
            table_count is None
            and not line.startswith("+")
            and (match := _TABLE_COUNT.search(line))
        ):
            table_count = int(match.group(1))
    # Only an error after the success line undoes it; one before it was survived.
    error = _first_error(lines, -1 if success_index is None else success_index)
    if table_count is None and error is not None and (match := _GOT_COUNT.match(error)):
        table_count = int(match.group(1))
    return DrillLog(
        started_at=header_start if header_start is not None else script_start,
        ended_at=ended_at,
        drill_database=drill_database,
        backup_file=backup_file,
        table_count=table_count,
        succeeded=success_index is not None and error is None,
        complete=complete,
        error=error,
        last_step=last_step,
    )


def _dotnet_iso(moment: datetime) -> str:
    # Mirror PowerShell's Get-Date -Format o (7 fractional digits) so the parser sees real input.
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0+00:00"


def format_drill_log(
    *,
    started_at: datetime,
    ended_at: datetime | None,
    drill_database: str,
    source: str,
    backup_file: str,
    table_count: int | None,
    error: str | None,
    log_file: str,
    machine: str = "localhost",
) -> str:
    """Render a drill transcript in the LMS script's format (LF endings) for this suite's drill."""
    start = _as_utc(started_at)
    lines = [
        _RULE,
        "Windows PowerShell transcript start",
        f"Start time: {start:%Y%m%d%H%M%S}",
        f"Username: {machine}\\lms-verify",
        f"RunAs User: {machine}\\lms-verify",
        f"Machine: {machine}",
        "Host Application: lms-verify active restore drill",
        _RULE,
        f"{_STEP}Restore drill started at {_dotnet_iso(start)}",
        f"Source: {source}",
        f"Drill DB: {drill_database}",
        f"{_STEP}Creating fresh backup",
        f"[backup_db] Writing backup to {backup_file}",
        f"[backup_db] Backup completed: {backup_file}",
        f"Backup file: {backup_file}",
        f"{_STEP}Creating drill database",
        f"{_STEP}Copying backup into db container",
        f"{_STEP}Restoring backup into drill database",
    ]
    if error is None:
        passed = "Restore validation passed."
        if table_count is not None:
            passed += f" Table count: {table_count}"
        lines += [f"{_STEP}Running restore validation checks", passed]
        lines += [f"{_STEP}{_SUCCESS}", f"Log file: {log_file}"]
    else:
        # One line, never empty: the parser quotes a single line and ignores blank ones.
        message = " ".join(error.splitlines()).strip() or "Restore drill failed: unknown error"
        if table_count is not None:
            lines.append(f"{_STEP}Running restore validation checks")
            got = _GOT_COUNT.match(message)
            if got is None or int(got.group(1)) != table_count:
                lines.append(f"Table count: {table_count}")
        # The TerminatingError record makes any wording recognisable as the failure.
        lines += [f'PS>TerminatingError(): "{message}"', message]
    if ended_at is not None:
        end = f"End time: {_as_utc(ended_at):%Y%m%d%H%M%S}"
        lines += [_RULE, "Windows PowerShell transcript end", end, _RULE]
    return "\n".join(lines) + "\n"


def drill_log_time(name: str) -> datetime | None:
    """UTC time encoded in a drill log's file name (a bare name or a path), or None."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    match = DRILL_LOG_NAME.match(base)
    if match is None:
        return None
    return _stamp("".join(match.group("year", "month", "day", "hour", "minute", "second")))
