"""What a scan of a log location returns: one frozen measurement per window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lms_opscheck.probes.logs.analysis import AccessSummary, ErrorSummary


@dataclass(frozen=True)
class LogWindow:
    """What one window of a log location held, and how much was examined to say so."""

    location: str
    window: timedelta
    since: datetime
    until: datetime
    files: tuple[str, ...]  # files with lines in the window, oldest first
    files_found: int  # files of the location, any age
    bytes: int
    lines: int
    unplaced_lines: int
    placed_by_preceding: int  # parsed lines that took the time of the line before them
    first_time: datetime | None
    last_time: datetime | None
    newest_line: datetime | None  # newest timestamp in the location, in the window or not
    request_lines: bool  # any request line (uvicorn access, app.request, JSON status) seen
    errors: ErrorSummary | None
    access: AccessSummary | None
    engine: str

    @property
    def silent(self) -> bool:
        return self.lines == 0

    def silence(self) -> str:
        """Why nothing was examined, worded for a failure message."""
        span = f"between {self.since:%Y-%m-%d %H:%M:%S} and {self.until:%Y-%m-%d %H:%M:%S} UTC"
        if self.files_found == 0:
            return f"no log file in {self.location} (0 files examined, nothing {span})"
        newest = (
            f"newest line at {self.newest_line:%Y-%m-%d %H:%M:%S} UTC"
            if self.newest_line is not None
            else "no timestamped line found"
        )
        unplaced = (
            f"; {self.unplaced_lines} line(s) carry no timestamp and cannot be placed"
            if self.unplaced_lines
            else ""
        )
        return f"no lines {span} in {self.location}; {newest}{unplaced}"


@dataclass(frozen=True)
class LogScan:
    location: str
    windows: tuple[LogWindow, ...]

    def window(self, length: timedelta) -> LogWindow:
        for found in self.windows:
            if found.window == length:
                return found
        raise KeyError(f"{self.location} was not scanned over {length}")
