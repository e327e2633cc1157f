"""Restore-drill evidence: the drill-log catalogue of a folder, and what the newest drill restored.

Names are read like backup names (probes.backups): the stamp is the writing host's local time
in the location's ``timezone``, and symbolic links are ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lms_opscheck.config.durations import format_duration
from lms_opscheck.probes.backups import Backup, Catalogue
from lms_opscheck.probes.drill_log import SUITE, DrillLog, parse_drill_log
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.wallclock import ZoneHint, parse_digits, read_local, zone, zone_hint

#: Drill-log transcripts are small; anything bigger is not a transcript (or is runaway output).
MAX_LOG_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class StampedFile:
    """A file whose name carries the local time it was written at (earliest reading, UTC)."""

    path: Path
    stamp: datetime
    local: datetime | None = None  # naive: the time as the name writes it

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
    timezone: str = "UTC"

    @property
    def future(self) -> tuple[StampedFile, ...]:
        return tuple(f for f in self.files if f.stamp > self.now + self.tolerance)

    @property
    def newest(self) -> StampedFile | None:
        """The newest log that is not future-dated."""
        for file in reversed(self.files):
            if file.stamp <= self.now + self.tolerance:
                return file
        return None

    def ahead(self, file: StampedFile) -> str:
        return f"{file.name} is {format_duration(-file.age(self.now))} ahead"

    @property
    def oldest(self) -> StampedFile | None:
        return self.files[0] if self.files else None

    @property
    def span(self) -> timedelta | None:
        """How far back the kept logs reach: the age of the oldest one (None: no log)."""
        return self.oldest.age(self.now) if self.oldest else None

    def describe(self, file: StampedFile) -> str:
        return f"{file.name} ({format_duration(file.age(self.now))} old) in {self.location}"

    def zone_hint(self, files: Sequence[StampedFile]) -> ZoneHint | None:
        """A zone in which these files' names agree with their mtimes (a wrong ``timezone``)."""
        pairs = []
        for file in files[:24]:
            try:
                mtime = datetime.fromtimestamp(file.path.stat().st_mtime, UTC)
            except OSError:
                continue
            if file.local is not None:
                pairs.append((file.local, mtime))
        return zone_hint(pairs, self.tolerance, self.timezone) if pairs else None


@dataclass(frozen=True)
class DrillEvidence:
    """The newest drill log and what it says."""

    file: StampedFile
    log: DrillLog
    location: str

    def __str__(self) -> str:
        return f"{self.file.name} in {self.location}"

    @property
    def outcome(self) -> str:
        """Why the drill does not count as a success, quoting the log; '' if it does."""
        log = self.log
        if log.format == SUITE and log.result and log.error:
            return f"says restore: {log.result}: {log.error!r}"
        if log.error:
            return f"failed: {log.error!r}"
        if not log.succeeded and log.format == SUITE and log.complete:
            return "has no 'restore: succeeded' line"
        if not log.succeeded:
            step = f"after step {log.last_step!r}" if log.last_step else "before its first step"
            if log.format == SUITE:
                return f"stops {step} without 'restore:' and 'ended_at:' lines (truncated)"
            return f"stops {step} without 'Restore drill completed successfully' (truncated)"
        if not log.complete:
            return "has no 'PowerShell transcript end' footer (truncated)"
        return ""


def stamped_files(
    directory: Path, pattern: str, location: str, timezone: str = "UTC"
) -> tuple[StampedFile, ...]:
    """Regular files in ``directory`` whose whole name matches ``pattern`` (a ``stamp`` group)."""
    regex = re.compile(pattern)
    where = zone(timezone)
    found: list[StampedFile] = []
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False):
                    continue
                match = regex.fullmatch(entry.name)
                naive = parse_digits(match["stamp"]) if match else None
                if naive is None:  # not ours, or a name that only looks stamped (month 13)
                    continue
                stamp = read_local(naive, where).earliest
                found.append(StampedFile(directory / entry.name, stamp, naive))
    except FileNotFoundError:
        raise Unreadable(location, "the folder does not exist") from None
    except OSError as exc:
        raise Unreadable(location, f"cannot list the folder: {exc.strerror or exc}") from None
    return tuple(sorted(found, key=lambda f: (f.stamp, f.name)))


def drill_logs(
    directory: Path,
    pattern: str,
    location: str,
    now: datetime | None = None,
    tolerance: timedelta = timedelta(0),
    timezone: str = "UTC",
) -> DrillLogs:
    when = now or datetime.now(UTC)
    files = stamped_files(directory, pattern, location, timezone)
    return DrillLogs(location, files, when, tolerance, timezone)


def read_drill(file: StampedFile, location: str, timezone: str = "UTC") -> DrillEvidence:
    """Parse one drill log (its local times read in ``timezone``); Unreadable if unreadable."""
    try:
        with file.path.open("rb") as handle:
            raw = handle.read(MAX_LOG_BYTES + 1)
    except OSError as exc:
        raise Unreadable(f"{file.name} in {location}", exc.strerror or str(exc)) from None
    if len(raw) > MAX_LOG_BYTES:
        raise Unreadable(f"{file.name} in {location}", f"larger than {MAX_LOG_BYTES} bytes")
    return DrillEvidence(file, parse_drill_log(raw, timezone), location)


def retention_floor(retention: timedelta, interval: timedelta, grace: timedelta) -> timedelta:
    """The age the oldest kept log must reach: logs are written once per interval, so a folder
    that keeps ``retention`` always holds one at least ``retention - interval - grace`` old."""
    return max(timedelta(0), retention - interval - grace)


@dataclass(frozen=True)
class RestoredBackup:
    """Which backup the newest drill restored, beside the one that was newest when it ran."""

    name: str | None  # as the log names it
    taken_at: datetime | None  # older of its name time and its archive time; None: not dated
    drill_at: datetime
    newest_then: Backup | None  # the newest backup in the catalogue at drill time
    problem: str | None  # why the restored backup cannot be dated

    @property
    def lag(self) -> timedelta | None:
        """How much older the restored backup is than the newest one at drill time."""
        if self.taken_at is None:
            return None
        reference = self.newest_then.taken_at if self.newest_then else self.drill_at
        return reference - self.taken_at


def restored_backup(drill: DrillEvidence, backups: Catalogue) -> RestoredBackup:
    """Date the backup the drill log names with the backups' pattern and zone (and, for the
    suite's own log, the archive time it recorded), and find the newest one at drill time."""
    log = drill.log
    drill_at = log.started_at or drill.file.stamp
    newest_then = backups.newest_at(drill_at)
    name = log.backup_name
    if name is None:
        problem = "the log does not name the backup it restored"
        return RestoredBackup(None, None, drill_at, newest_then, problem)
    match = re.fullmatch(backups.pattern, name)
    naive = parse_digits(match["stamp"]) if match else None
    times = [read_local(naive, zone(backups.timezone)).earliest] if naive else []
    if log.backup_created_at is not None:
        times.append(log.backup_created_at)
    if not times:
        problem = f"{name} does not match the backup pattern {backups.pattern!r}"
        return RestoredBackup(name, None, drill_at, newest_then, problem)
    return RestoredBackup(name, min(times), drill_at, newest_then, None)
