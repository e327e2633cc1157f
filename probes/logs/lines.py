"""The three line formats of an LMS log, parsed one line at a time (only lines a prefilter chose).

- LMS plain text: ``2026-11-28 00:18:09,731 INFO [app.request] POST /api/v1/auth/login -> 200
  (193.03 ms)``; ``asctime`` is the app host's local time (the location's ``timezone``).
- uvicorn: ``INFO:     127.0.0.1:53422 - "GET /api/v1/health HTTP/1.1" 200 OK`` (access) and
  ``ERROR:    Exception in ASGI application`` (its error logger); no timestamp.
- JSON lines: ``{"timestamp": "...", "level": "ERROR", "message": ..., "client_ip": ...}``, keys
  per :class:`~lms_opscheck.config.logs.JsonKeys`; a time without an offset is local time too.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from lms_opscheck.config.logs import JsonKeys

_PLAIN = re.compile(
    rb"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[,.](\d{1,6}))?(Z|[+-]\d\d:?\d\d)? "
    rb"(?:([A-Z]+) \[([^\]]*)\] ?)?"
)
_UVICORN = re.compile(rb"([A-Z]+):\s+")
_ACCESS = re.compile(rb'(\S+) - "([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})')
_APP_REQUEST = re.compile(r"([A-Z]+) (\S+) -> (\d{3})\b")
#: A line that may carry a timestamp: plain text starts with the date, JSON with a brace.
STAMP_LINE = re.compile(rb"^(?:\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d|\{)", re.M)

# (pattern, replacement, characters one of which every match holds): the guard skips a regex
# pass on lines that cannot hold its kind of value (six passes were most of a line's cost).
_FOLDS = (
    (
        re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        "<uuid>",
        "-",
    ),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>", "@"),
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<str>", "'\""),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>", "."),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"), "<hex>", ""),
    (re.compile(r"\d+(?:\.\d+)?"), "<n>", ""),
)
SIGNATURE_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Record:
    """What one candidate line says; ``time`` is None when the line carries no timestamp."""

    kind: str  # "lms" | "uvicorn" | "json"
    time: float | None
    level: str | None
    logger: str | None
    message: str
    client: str | None = None
    method: str | None = None
    path: str | None = None
    status: int | None = None

    @property
    def is_request(self) -> bool:
        return self.status is not None and self.path is not None


class Clock:
    """Timestamps to UTC epoch seconds in one zone; local minutes are converted once each."""

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self._minutes: dict[bytes, float] = {}

    def plain(self, match: re.Match[bytes]) -> float | None:
        """Epoch seconds, or None for a date that does not exist (a damaged line: 11:61)."""
        key = match.group(0)[:16]
        base = self._minutes.get(key)
        if base is None:
            year, month, day, hour, minute = (int(match.group(i)) for i in range(1, 6))
            try:
                moment = datetime(year, month, day, hour, minute, tzinfo=self.zone)
            except ValueError:
                return None
            base = moment.timestamp()
            if len(self._minutes) > 100_000:  # a week holds 10,080 minutes; bound it anyway
                self._minutes.clear()
            self._minutes[key] = base
        second, fraction, offset = match.group(6, 7, 8)
        if int(second) > 60:  # 60: a leap second
            return None
        seconds = base + int(second)
        if fraction:
            seconds += int(fraction) / 10 ** len(fraction)
        if offset:
            seconds += self._offset_correction(base, offset)
        return seconds

    def _offset_correction(self, local_base: float, offset: bytes) -> float:
        """The line states its own offset: undo the zone's, apply the line's."""
        zone_offset = datetime.fromtimestamp(local_base, self.zone).utcoffset()
        zone_seconds = zone_offset.total_seconds() if zone_offset else 0.0
        if offset == b"Z":
            return zone_seconds
        sign = -1 if offset[:1] == b"-" else 1
        digits = offset[1:].replace(b":", b"")
        return zone_seconds - sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)

    def iso(self, text: object) -> float | None:
        if isinstance(text, int | float) and not isinstance(text, bool):
            return float(text)  # epoch seconds
        if not isinstance(text, str):
            return None
        try:
            moment = datetime.fromisoformat(text.replace(",", "."))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.timestamp()


def stamp_of(line: bytes, clock: Clock, keys: JsonKeys) -> float | None:
    """The time a line states (epoch seconds), or None for a line without one."""
    head = line[:1]
    if head.isdigit():
        match = _PLAIN.match(line)
        return clock.plain(match) if match else None
    if head == b"{":
        record = _json(line)
        return clock.iso(_first(record, keys.timestamp)) if record is not None else None
    return None


def parse(line: bytes, clock: Clock, keys: JsonKeys) -> Record | None:
    """A candidate line as a Record; None when it is in none of the three formats."""
    head = line[:1]
    if head.isdigit():
        return _parse_plain(line, clock)
    if head == b"{":
        return _parse_json(line, clock, keys)
    return _parse_uvicorn(line)


def _parse_plain(line: bytes, clock: Clock) -> Record | None:
    match = _PLAIN.match(line)
    if match is None:
        return None
    message = line[match.end() :].decode("utf-8", "replace").rstrip("\r")
    logger = match.group(10).decode("utf-8", "replace") if match.group(10) else None
    level = match.group(9).decode("ascii") if match.group(9) else None
    time = clock.plain(match)
    request = _APP_REQUEST.search(message) if logger and logger.endswith("request") else None
    if request is not None:
        method, path, status = request.groups()
        return Record("lms", time, level, logger, message, None, method, path, int(status))
    return Record("lms", time, level, logger, message)


def _parse_uvicorn(line: bytes) -> Record | None:
    prefix = _UVICORN.match(line)
    if prefix is None:
        return None
    level = prefix.group(1).decode("ascii")
    rest = line[prefix.end() :]
    access = _ACCESS.match(rest)
    text = rest.decode("utf-8", "replace").rstrip("\r")
    if access is None:
        return Record("uvicorn", None, level, "uvicorn.error", text)
    address, method, path, status = (part.decode("utf-8", "replace") for part in access.groups())
    # uvicorn writes "%s:%d" % (host, port), IPv6 hosts included: the port is after the last colon.
    client = address.rsplit(":", 1)[0].strip("[]") if ":" in address else address
    return Record("uvicorn", None, level, "uvicorn.access", text, client, method, path, int(status))


def _parse_json(line: bytes, clock: Clock, keys: JsonKeys) -> Record | None:
    record = _json(line)
    if record is None:
        return None
    level = _first(record, keys.level)
    message = _first(record, keys.message)
    status = _first(record, keys.status)
    client = _first(record, keys.client)
    method = _first(record, keys.method)
    path = _first(record, keys.path)
    text = str(message) if message is not None else ""
    if path is None and (request := _APP_REQUEST.search(text)) is not None:
        method, path, status = method or request.group(1), request.group(2), status or request[3]
    try:
        code = int(str(status)) if status is not None else None
    except ValueError:
        code = None
    logger = _first(record, keys.logger)
    return Record(
        "json",
        clock.iso(_first(record, keys.timestamp)),
        str(level).upper() if level is not None else None,
        str(logger) if logger is not None else None,
        text,
        str(client) if client not in (None, "") else None,
        str(method) if method is not None else None,
        str(path) if path is not None else None,
        code,
    )


def _json(line: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _first(record: dict[str, object], names: list[str]) -> object:
    for name in names:
        if name in record:
            return record[name]
    return None


def signature(record: Record) -> str:
    """The message with numbers, ids, emails, addresses and quoted values folded."""
    head = f"{record.level or '?'} [{record.logger or '-'}] "
    message = record.message
    folded = _remembered(message) if len(message) <= _REMEMBERED_LENGTH else _folded(message)
    return (head + folded)[:SIGNATURE_LENGTH]


_REMEMBERED_LENGTH = 1000  # at most 4096 such messages and their folds: ~8 MB at worst


def _folded(message: str) -> str:
    text = message
    for pattern, replacement, needs in _FOLDS:
        if not needs or any(c in text for c in needs):
            text = pattern.sub(replacement, text)
    return " ".join(text.split())


#: An error repeated word for word (the usual case) is folded once.
_remembered = functools.lru_cache(maxsize=4096)(_folded)


def utc(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None
