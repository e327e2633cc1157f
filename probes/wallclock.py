"""Local wall-clock times in file names and logs, read in the zone of the host that wrote them.

A name such as ``lms_20261025_023000.dump`` holds the writing host's local time and no offset.
Read in that host's IANA zone it denotes one instant, except around a DST change:

- the repeated hour (clocks go back) makes a time *ambiguous*: it denotes two instants;
- the skipped hour (clocks go forward) makes a time *non-existent*: a correct local clock never
  shows it; it is read with the offset before and the offset after the change.

Either way a time has an ``earliest`` and a ``latest`` reading (equal for ordinary times). Ages
use the earliest, so a backup never looks younger than it can be; comparisons with a real
instant (a file's mtime) accept the reading nearest to it, so the repeated hour never looks like
a clock problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

_NON_DIGIT = re.compile(r"\D")


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True)
class Reading:
    """The instants (UTC) a local wall-clock time can denote in one zone."""

    earliest: datetime
    latest: datetime

    @property
    def ambiguous(self) -> bool:
        return self.earliest != self.latest

    def nearest(self, instant: datetime) -> datetime:
        if abs(instant - self.earliest) <= abs(instant - self.latest):
            return self.earliest
        return self.latest

    def distance(self, instant: datetime) -> timedelta:
        """``instant`` minus the nearest reading (positive: the instant is later)."""
        return instant - self.nearest(instant)


_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu", "Etc/Zulu"})


def read_local(naive: datetime, where: tzinfo) -> Reading:
    """Both readings of a local time in ``where`` (PEP 495: fold 0 and fold 1)."""
    if getattr(where, "key", None) in _UTC_KEYS:  # one reading; 100,000 names list faster
        instant = naive.replace(tzinfo=UTC)
        return Reading(instant, instant)
    first = naive.replace(tzinfo=where, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=where, fold=1).astimezone(UTC)
    return Reading(min(first, second), max(first, second))


def read_labelled(naive: datetime, where: tzinfo, label: str) -> Reading:
    """A local time printed with its zone abbreviation (``CEST``): the label picks the reading."""
    for fold in (0, 1):
        candidate = naive.replace(tzinfo=where, fold=fold)
        if candidate.tzname() == label:
            instant = candidate.astimezone(UTC)
            return Reading(instant, instant)
    return read_local(naive, where)


def parse_digits(stamp: str) -> datetime | None:
    """The naive time in a ``YYYYMMDD_HHMMSS``-style stamp (any separators), or None."""
    digits = _NON_DIGIT.sub("", stamp)
    if len(digits) != 14:
        return None
    try:
        return datetime(
            int(digits[0:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12]),
            int(digits[12:14]),
        )
    except ValueError:  # month 13, 31 February: shaped like a stamp, but no time
        return None


def describe_offset(offset: timedelta) -> str:
    """``UTC+2``, ``UTC-3:30``, ``UTC``."""
    minutes = round(offset.total_seconds() / 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


@dataclass(frozen=True)
class ZoneHint:
    """Zones in which every examined local time agrees with the real instant beside it."""

    offsets: tuple[timedelta, ...]
    examples: tuple[str, ...]

    def __str__(self) -> str:
        offsets = "/".join(describe_offset(o) for o in self.offsets)
        return f"local time {offsets} (e.g. {', '.join(self.examples)})"


_REGIONS = ("Europe", "America", "Asia", "Australia", "Africa", "Pacific", "Atlantic", "Indian")


def _preference(name: str) -> tuple[int, str]:
    region = name.split("/", 1)[0]
    rank = _REGIONS.index(region) if region in _REGIONS and "/" in name else len(_REGIONS)
    return rank, name


@cache
def _candidate_zones() -> tuple[str, ...]:
    names = [n for n in available_timezones() if not n.startswith(("posix/", "right/", "SystemV/"))]
    return tuple(sorted(names, key=_preference))


def zone_hint(
    pairs: Sequence[tuple[datetime, datetime]],
    tolerance: timedelta,
    exclude: str,
    examples: int = 3,
) -> ZoneHint | None:
    """The zones that best reconcile every (naive local time, real instant) pair, each within
    ``tolerance``: the zone a host really wrote its names in. Only zones that fit clearly
    better than ``exclude`` (the configured zone) are a remedy.

    None when no zone does (then the disagreement is a clock or copy problem, not a zone) or
    when there is nothing to compare. Among zones that fit, the closest fit wins: UTC+1 is
    within an hour of UTC+2 names too, but UTC+2 matches them to the minute.
    """
    if not pairs:
        return None

    def worst_fit(where: ZoneInfo) -> timedelta:
        return max(abs(read_local(naive, where).distance(real)) for naive, real in pairs)

    # A remedy fits clearly better than the configured zone does, and within the tolerance.
    bar = min(tolerance, worst_fit(zone(exclude)) - _SAME_FIT)
    scored: list[tuple[timedelta, str]] = []
    for name in _candidate_zones():
        worst = worst_fit(zone(name))
        if worst <= bar:
            scored.append((worst, name))
    if not scored:
        return None
    best = min(worst for worst, _ in scored)
    matches = [name for worst, name in scored if worst <= best + _SAME_FIT]
    first = zone(matches[0])
    offsets = _distinct(real.astimezone(first).utcoffset() for _, real in pairs)
    return ZoneHint(tuple(sorted(offsets)), tuple(matches[:examples]))


#: Zones whose worst disagreement is this close to the best one's fit equally well.
_SAME_FIT = timedelta(minutes=1)


def _distinct(values: Iterable[timedelta | None]) -> set[timedelta]:
    return {v for v in values if v is not None}
