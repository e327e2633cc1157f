"""Read restore-drill logs (restore_drill_*.log): the LMS script's PowerShell transcripts and
this suite's own format (probes.drill_record, docs/drill-log.md) alike.

A transcript's ``Start time:`` / ``End time:`` carry the drill host's local time and no offset:
they are read in the drill-log location's ``timezone`` (probes.wallclock). The suite's own log
writes ISO 8601 times with their offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lms_opscheck.probes import drill_record
from lms_opscheck.probes.wallclock import Reading, parse_digits, read_local, zone

DRILL_LOG_NAME: re.Pattern[str] = re.compile(
    r"^restore_drill_(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})"
    r"_(?P<hour>\d{2})(?P<minute>\d{2})(?P<second>\d{2})\.log\Z"
)

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


TRANSCRIPT = "PowerShell transcript"
SUITE = "lms-opscheck drill log v1"


@dataclass(frozen=True)
class DrillLog:
    """What one restore-drill log says happened."""

    started_at: datetime | None
    ended_at: datetime | None
    drill_database: str | None
    backup_file: str | None  # as the log names it: a path (transcript) or a file name
    table_count: int | None
    succeeded: bool
    complete: bool
    error: str | None
    last_step: str | None
    format: str = TRANSCRIPT
    #: The restored archive's creation time (the suite's own log records it).
    backup_created_at: datetime | None = None
    #: The suite's own log's ``restore:`` word (succeeded, failed, interrupted, error...).
    result: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.result == drill_record.INTERRUPTED

    @property
    def backup_name(self) -> str | None:
        """The restored backup's file name, whatever the path style (C:\\... or /srv/...)."""
        if not self.backup_file:
            return None
        return self.backup_file.replace("\\", "/").rsplit("/", 1)[-1] or None

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


def _reading(digits: str, timezone: str) -> Reading | None:
    """A transcript's ``yyyyMMddHHmmss`` local time, read in ``timezone``."""
    naive = parse_digits(digits)
    return read_local(naive, zone(timezone)) if naive is not None else None


def _stamp(digits: str, timezone: str) -> datetime | None:
    reading = _reading(digits, timezone)
    return reading.earliest if reading is not None else None


def _times(
    start: Reading | None, script_start: datetime | None, end: Reading | None
) -> tuple[datetime | None, datetime | None]:
    """Start and end of a transcript. Its header times have no offset: in the hour a DST change
    repeats, the script's own start line (which has one) picks the start's reading, and the end
    is the earliest reading not before the start (drills take minutes, not an hour)."""
    started = script_start
    if start is not None:
        started = start.nearest(script_start) if script_start else start.earliest
    if end is None:
        return started, None
    after = [t for t in (end.earliest, end.latest) if started is None or t >= started]
    return started, min(after) if after else end.latest


def _iso(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(_EXTRA_FRACTION.sub(r"\1", value, count=1))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


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


def parse_drill_log(raw: bytes | str, timezone: str = "UTC") -> DrillLog:
    """Parse a drill log: the suite's own format, or the LMS script's transcript whose local
    times are read in ``timezone`` (the drill host's zone)."""
    text = decode_log(raw) if isinstance(raw, bytes) else _normalise(raw)
    lines = [line.strip() for line in text.split("\n")]
    if drill_record.is_record(lines):
        return _from_record(drill_record.read_record(lines))
    return _from_transcript(lines, timezone)


def _from_record(record: drill_record.Record) -> DrillLog:
    result, _, why = record.fields.get("restore", "").partition(":")
    result = result.strip()
    complete = "ended_at" in record.fields
    tables = record.fields.get("tables", "")
    return DrillLog(
        started_at=record.time("started_at"),
        ended_at=record.time("ended_at"),
        drill_database=record.fields.get("scratch_database"),
        backup_file=record.fields.get("backup_path") or record.fields.get("backup"),
        table_count=int(tables) if tables.isdigit() else None,
        succeeded=result == drill_record.SUCCEEDED and complete,
        complete=complete,
        error=(why.strip() or result) if result and result != drill_record.SUCCEEDED else None,
        last_step=record.steps[-1] if record.steps else None,
        format=SUITE,
        backup_created_at=record.time("backup_created_at"),
        result=result or None,
    )


def _from_transcript(lines: list[str], timezone: str) -> DrillLog:
    header_start: Reading | None = None
    script_start: datetime | None = None
    header_end: Reading | None = None
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
            header_start = _reading(match.group(1), timezone)
        elif script_start is None and (match := _STARTED_AT.match(line)):
            script_start = _iso(match.group(1))
        elif _END_MARK.match(line):
            complete = True
        elif complete and header_end is None and (match := _END_TIME.match(line)):
            header_end = _reading(match.group(1), timezone)
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
    started_at, ended_at = _times(header_start, script_start, header_end)
    # Only an error after the success line undoes it; one before it was survived.
    error = _first_error(lines, -1 if success_index is None else success_index)
    if table_count is None and error is not None and (match := _GOT_COUNT.match(error)):
        table_count = int(match.group(1))
    return DrillLog(
        started_at=started_at,
        ended_at=ended_at,
        drill_database=drill_database,
        backup_file=backup_file,
        table_count=table_count,
        succeeded=success_index is not None and error is None,
        complete=complete,
        error=error,
        last_step=last_step,
    )


def drill_log_time(name: str, timezone: str = "UTC") -> datetime | None:
    """The time in a drill log's file name (a bare name or a path), read in ``timezone``."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    match = DRILL_LOG_NAME.match(base)
    if match is None:
        return None
    digits = "".join(match.group("year", "month", "day", "hour", "minute", "second"))
    return _stamp(digits, timezone)
