"""The backup catalogue: which dumps a backup location holds, and the policy arithmetic on them.

Listing reads names, sizes and mtimes only, never a dump's contents. A backup's time is the
``stamp`` in its name (``YYYYMMDD_HHMMSS``, UTC), cross-checked against its mtime.
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

LIST_TIMEOUT = timedelta(seconds=30)


@dataclass(frozen=True)
class Backup:
    name: str
    size: int
    taken_at: datetime  # from the name
    mtime: datetime

    @property
    def skew(self) -> timedelta:
        """How far the file's mtime is from the time in its name (positive: written later)."""
        return self.mtime - self.taken_at

    def age(self, now: datetime) -> timedelta:
        return now - self.taken_at

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Catalogue:
    directory: str
    host: str
    pattern: str
    backups: tuple[Backup, ...]  # oldest first
    measured_at: datetime

    @property
    def where(self) -> str:
        return f"{self.directory} on {self.host}"

    def latest(self, tolerance: timedelta) -> Backup | None:
        """The newest backup that is not dated in the future (beyond the clock tolerance)."""
        usable = [b for b in self.backups if b.taken_at <= self.measured_at + tolerance]
        return usable[-1] if usable else None

    def oldest(self) -> Backup | None:
        return self.backups[0] if self.backups else None

    def __len__(self) -> int:
        return len(self.backups)


def parse_stamp(stamp: str) -> datetime:
    digits = re.sub(r"\D", "", stamp)
    return datetime.strptime(digits[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def entries_to_backups(
    entries: Iterable[tuple[str, int, float]], pattern: str
) -> tuple[Backup, ...]:
    """Backups among ``(name, size, mtime)`` entries whose names match ``pattern``."""
    regex = re.compile(pattern)
    found: list[Backup] = []
    for name, size, mtime in entries:
        match = regex.fullmatch(name)
        if match is None:
            continue
        try:
            taken_at = parse_stamp(match["stamp"])
        except ValueError:
            continue  # matches the shape but is no date (e.g. month 13): not a backup we know
        found.append(Backup(name, size, taken_at, datetime.fromtimestamp(mtime, UTC)))
    return tuple(sorted(found, key=lambda b: (b.taken_at, b.name)))


def catalogue(shell: Shell, location: BackupLocation, now: datetime | None = None) -> Catalogue:
    """List ``location`` on ``shell``'s host; Unreadable if the directory cannot be listed."""
    entries = _local_entries(location.dir) if shell.is_local else _remote_entries(shell, location)
    return Catalogue(
        directory=location.dir,
        host=shell.label,
        pattern=location.pattern,
        backups=entries_to_backups(entries, location.pattern),
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


def future_dated(cat: Catalogue, tolerance: timedelta) -> list[Backup]:
    return [b for b in cat.backups if b.taken_at > cat.measured_at + tolerance]


def clock_disagreements(cat: Catalogue, tolerance: timedelta) -> list[Backup]:
    """Backups whose mtime is further than ``tolerance`` from the time in their name."""
    return [b for b in cat.backups if abs(b.skew) > tolerance]


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
