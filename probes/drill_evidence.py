"""Restore-drill evidence: the drill-log catalogue of a folder, and the newest backup to restore."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lms_opscheck.config.durations import format_duration
from lms_opscheck.probes.drill_log import DrillLog, parse_drill_log
from lms_opscheck.probes.errors import Unreadable

#: Drill-log transcripts are small; anything bigger is not a transcript (or is runaway output).
MAX_LOG_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class StampedFile:
    """A file whose name carries its UTC time (``..._YYYYMMDD_HHMMSS...``)."""

    path: Path
    stamp: datetime

    @property
    def name(self) -> str:
        return self.path.name

    def age(self, now: datetime) -> timedelta:
        return now - self.stamp


@dataclass(frozen=True)
class DrillLogs:
    """The drill logs of one folder, oldest first, as seen at ``now``.

    A log stamped more than ``tolerance`` after ``now`` is *future-dated* (a wrong clock or a
    hand-made name): it never counts as the newest drill, and DRL-01 reports it.
    """

    location: str
    files: tuple[StampedFile, ...]
    now: datetime
    tolerance: timedelta = timedelta(0)

    @property
    def future(self) -> tuple[StampedFile, ...]:
        return tuple(f for f in self.files if f.stamp > self.now + self.tolerance)

    @property
    def newest(self) -> StampedFile | None:
        """The newest log that is not future-dated."""
        dated = [f for f in self.files if f.stamp <= self.now + self.tolerance]
        return dated[-1] if dated else None

    def ahead(self, file: StampedFile) -> str:
        return f"{file.name} is {format_duration(-file.age(self.now))} ahead"

    @property
    def oldest(self) -> StampedFile | None:
        return self.files[0] if self.files else None

    @property
    def span(self) -> timedelta:
        """How far back the kept logs reach: the age of the oldest one."""
        return self.oldest.age(self.now) if self.oldest else timedelta(0)

    def describe(self, file: StampedFile) -> str:
        return f"{file.name} ({format_duration(file.age(self.now))} old) in {self.location}"


@dataclass(frozen=True)
class DrillEvidence:
    """The newest drill log and what its transcript says."""

    file: StampedFile
    log: DrillLog
    location: str

    def __str__(self) -> str:
        return f"{self.file.name} in {self.location}"

    @property
    def outcome(self) -> str:
        """Why the drill does not count as a success, quoting the transcript; '' if it does."""
        log = self.log
        if log.error:
            return f"failed: {log.error!r}"
        if not log.succeeded:
            step = f"after step {log.last_step!r}" if log.last_step else "before its first step"
            return f"stops {step} without 'Restore drill completed successfully' (truncated)"
        if not log.complete:
            return "has no 'PowerShell transcript end' footer (truncated)"
        return ""


def stamped_files(directory: Path, pattern: str, location: str) -> tuple[StampedFile, ...]:
    """Files in ``directory`` whose whole name matches ``pattern`` (with a ``stamp`` group)."""
    regex = re.compile(pattern)
    try:
        names = [entry.name for entry in directory.iterdir() if entry.is_file()]
    except FileNotFoundError:
        raise Unreadable(location, "the folder does not exist") from None
    except OSError as exc:
        raise Unreadable(location, f"cannot list the folder: {exc.strerror or exc}") from None
    found: list[StampedFile] = []
    for name in names:
        match = regex.fullmatch(name)
        if match is None:
            continue
        try:
            stamp = datetime.strptime(match.group("stamp"), "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            continue  # a name that only looks stamped (month 13): not ours
        found.append(StampedFile(directory / name, stamp))
    return tuple(sorted(found, key=lambda f: (f.stamp, f.name)))


def drill_logs(
    directory: Path,
    pattern: str,
    location: str,
    now: datetime | None = None,
    tolerance: timedelta = timedelta(0),
) -> DrillLogs:
    when = now or datetime.now(UTC)
    return DrillLogs(location, stamped_files(directory, pattern, location), when, tolerance)


def read_drill(file: StampedFile, location: str) -> DrillEvidence:
    """Parse one drill log; Unreadable if it cannot be read."""
    try:
        with file.path.open("rb") as handle:
            raw = handle.read(MAX_LOG_BYTES + 1)
    except OSError as exc:
        raise Unreadable(f"{file.name} in {location}", exc.strerror or str(exc)) from None
    if len(raw) > MAX_LOG_BYTES:
        raise Unreadable(f"{file.name} in {location}", f"larger than {MAX_LOG_BYTES} bytes")
    return DrillEvidence(file, parse_drill_log(raw), location)


def newest_backup(directory: Path, pattern: str, location: str) -> StampedFile:
    """The newest backup by the time in its name; Unreadable when there is none."""
    files = stamped_files(directory, pattern, location)
    if not files:
        raise Unreadable(location, f"no backup matching {pattern} to restore")
    return files[-1]


def retention_floor(retention: timedelta, interval: timedelta, grace: timedelta) -> timedelta:
    """The age the oldest kept log must reach: logs are written once per interval, so a folder
    that keeps ``retention`` always holds one at least ``retention - interval - grace`` old."""
    return max(timedelta(0), retention - interval - grace)
