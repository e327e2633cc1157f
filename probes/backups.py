"""The backup catalogue: which dumps a backup location holds, and the policy arithmetic on them.

Listing reads names, sizes and mtimes only, never a dump's contents, and ignores symbolic links
(here and over ssh, and so does the active drill): a link named like tonight's backup proves
nothing about tonight. A backup's time is the ``stamp`` in its name, the backup host's local time
in the location's ``timezone`` (probes.wallclock), cross-checked against its mtime.
"""

from __future__ import annotations

import os
import re
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lms_opscheck.config.model import BackupLocation
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.hosts import Shell
from lms_opscheck.probes.wallclock import (
    Reading,
    ZoneHint,
    parse_digits,
    read_local,
    zone,
    zone_hint,
)

LIST_TIMEOUT = timedelta(seconds=30)
#: Evidence lists longer than this are cut to a count and the first names (a 5 MB junit.xml
#: of 90,814 names helps nobody).


@dataclass(frozen=True)
class Backup:
    name: str
    size: int
    stamp: datetime  # naive: the local time in the name
    reading: Reading  # what that local time denotes in the location's zone
    mtime: datetime

    @property
    def taken_at(self) -> datetime:
        """The earliest instant the name can denote: a backup never looks younger than it is."""
        return self.reading.earliest

    @property
    def skew(self) -> timedelta:
        """How far the file's mtime is from the time in its name (positive: written later)."""
        return self.reading.distance(self.mtime)

    def age(self, now: datetime) -> timedelta:
        return now - self.taken_at

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Catalogue:
    directory: str
    host: str
    pattern: str
    timezone: str
    backups: tuple[Backup, ...]  # oldest first
    measured_at: datetime

    @property
    def where(self) -> str:
        return f"{self.directory} on {self.host}"

    def latest(self, tolerance: timedelta) -> Backup | None:
        """The newest backup that is not dated in the future (beyond the clock tolerance)."""
        return self.newest_at(self.measured_at + tolerance)

    def newest_at(self, moment: datetime) -> Backup | None:
        """The newest backup taken at or before ``moment``."""
        for backup in reversed(self.backups):
            if backup.taken_at <= moment:
                return backup
        return None

    def named(self, name: str) -> Backup | None:
        return next((b for b in self.backups if b.name == name), None)

    def oldest(self) -> Backup | None:
        return self.backups[0] if self.backups else None

    def __len__(self) -> int:
        return len(self.backups)


def entries_to_backups(
    entries: Iterable[tuple[str, int, float]], pattern: str, timezone: str = "UTC"
) -> tuple[Backup, ...]:
    """Backups among ``(name, size, mtime)`` entries whose names match ``pattern``."""
    regex = re.compile(pattern)
    where = zone(timezone)
    found: list[Backup] = []
    for name, size, mtime in entries:
        match = regex.fullmatch(name)
        if match is None:
            continue
        stamp = parse_digits(match["stamp"])
        if stamp is None:
            continue  # matches the shape but is no date (e.g. month 13): not a backup we know
        reading = read_local(stamp, where)
        found.append(Backup(name, size, stamp, reading, datetime.fromtimestamp(mtime, UTC)))
    return tuple(sorted(found, key=lambda b: (b.taken_at, b.name)))


def catalogue(shell: Shell, location: BackupLocation, now: datetime | None = None) -> Catalogue:
    """List ``location`` on ``shell``'s host; Unreadable if the directory cannot be listed."""
    entries = _local_entries(location.dir) if shell.is_local else _remote_entries(shell, location)
    return Catalogue(
        directory=location.dir,
        host=shell.label,
        pattern=location.pattern,
        timezone=location.timezone,
        backups=entries_to_backups(entries, location.pattern, location.timezone),
        measured_at=now or datetime.now(UTC),
    )


def _local_entries(directory: str) -> list[tuple[str, int, float]]:
    try:
        with os.scandir(directory) as found:
            return list(_regular_files(found))
    except OSError as exc:
        raise Unreadable(f"{directory} on local://", f"cannot list: {exc.strerror}") from None


def _regular_files(found: Iterator[os.DirEntry[str]]) -> Iterator[tuple[str, int, float]]:
    for entry in found:
        if entry.is_file(follow_symlinks=False):
            stat = entry.stat(follow_symlinks=False)
            yield entry.name, stat.st_size, stat.st_mtime


def _remote_entries(shell: Shell, location: BackupLocation) -> list[tuple[str, int, float]]:
    where = f"{location.dir} on {shell.label}"
    # -type f: regular files only; find does not follow links, so links are ignored as here.
    done = shell.run(
        ["find", location.dir, "-maxdepth", "1", "-type", "f", "-printf", r"%f\t%s\t%T@\n"],
        LIST_TIMEOUT,
    )
    if done.rc != 0:
        raise Unreadable(where, f"cannot list: {done.error_text}")
    entries: list[tuple[str, int, float]] = []
    for line in done.stdout.decode(errors="replace").splitlines():
        name, _, rest = line.partition("\t")
        size, _, mtime = rest.partition("\t")
        try:
            entries.append((name, int(size), float(mtime)))
        except ValueError:
            raise Unreadable(where, f"unexpected listing line {line[:120]!r}") from None
    return entries


# -- policy arithmetic: pure functions on a catalogue ------------------------------------------


@dataclass(frozen=True)
class ArchiveTime:
    """A backup's two times: the one in its name and its archive header's creation time."""

    backup: Backup
    created_text: str  # as pg_restore printed it
    created_local: datetime  # naive
    created: Reading

    @property
    def gap(self) -> timedelta:
        """Archive time minus name time, between the nearest readings (positive: later)."""
        name = self.backup.reading
        return min(
            (
                a - n
                for a in (self.created.earliest, self.created.latest)
                for n in (name.earliest, name.latest)
            ),
            key=abs,
        )

    @property
    def taken_at(self) -> datetime:
        """The older of the two: a fresh name on an old archive does not make it fresh."""
        return min(self.backup.taken_at, self.created.earliest)

    @property
    def archive_is_older(self) -> bool:
        return self.created.earliest < self.backup.taken_at

    def archive_zone_hint(self, tolerance: timedelta, configured: str) -> ZoneHint | None:
        """A zone in which the archive's wall-clock time agrees with the file's mtime."""
        return zone_hint([(self.created_local, self.backup.mtime)], tolerance, configured)


def future_dated(cat: Catalogue, tolerance: timedelta) -> list[Backup]:
    return [b for b in cat.backups if b.taken_at > cat.measured_at + tolerance]


def clock_disagreements(cat: Catalogue, tolerance: timedelta) -> list[Backup]:
    """Backups whose mtime is further than ``tolerance`` from the time in their name."""
    return [b for b in cat.backups if abs(b.skew) > tolerance]


#: Enough names to tell a zone from a clock problem; a few hundred zones are tried on each.
_HINT_SAMPLE = 48


def names_zone_hint(cat: Catalogue, tolerance: timedelta) -> ZoneHint | None:
    """Another zone in which every name agrees with its mtime: the names are that zone's local
    time, not the configured one's. None when no zone explains them (a clock or copy problem)."""
    backups = cat.backups
    if not backups:
        return None
    step = max(1, len(backups) // (_HINT_SAMPLE // 2))
    sample = {b.name: b for b in clock_disagreements(cat, tolerance)[: _HINT_SAMPLE // 2]}
    sample.update((b.name, b) for b in backups[::step])
    pairs = [(b.stamp, b.mtime) for b in sample.values()]
    return zone_hint(pairs, tolerance, exclude=cat.timezone)


@dataclass(frozen=True)
class SizeVerdict:
    backup: Backup
    median: float | None  # of the previous ``window`` backups; None if there are none
    compared: int
    floor: float  # the size the newest must reach: max(min_bytes, ratio x median)

    @property
    def ok(self) -> bool:
        return self.backup.size >= self.floor


def size_verdict(
    cat: Catalogue, newest: Backup, window: int, min_bytes: int, ratio: float
) -> SizeVerdict:
    """Compare ``newest`` with the trailing median of the ``window`` backups before it."""
    before = [b.size for b in cat.backups if b.taken_at < newest.taken_at][-window:]
    median = float(statistics.median(before)) if before else None
    floor = max(float(min_bytes), ratio * median if median is not None else 0.0)
    return SizeVerdict(newest, median, len(before), floor)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M}..{self.end:%Y-%m-%d %H:%M} UTC"


def daily_gaps(cat: Catalogue, days: int) -> list[Window]:
    """The 24-hour windows, counted back from now, that hold no backup (newest window first)."""
    gaps: list[Window] = []
    for day in range(days):
        end = cat.measured_at - timedelta(days=day)
        start = end - timedelta(days=1)
        if not any(start < b.taken_at <= end for b in cat.backups):
            gaps.append(Window(start, end))
    return gaps


def oldest_age(cat: Catalogue) -> timedelta | None:
    oldest = cat.oldest()
    return oldest.age(cat.measured_at) if oldest is not None else None


def past_retention(cat: Catalogue, limit: timedelta) -> list[Backup]:
    return [b for b in cat.backups if b.age(cat.measured_at) > limit]
