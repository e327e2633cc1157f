"""Backup names in the backup host's local time: zones, DST changes, and zone-or-clock hints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lms_opscheck.probes.backups import (
    Catalogue,
    clock_disagreements,
    daily_gaps,
    entries_to_backups,
    names_zone_hint,
)
from lms_opscheck.probes.wallclock import describe_offset, read_local

PATTERN = r"lms_(?P<stamp>\d{8}_\d{6})\.dump"
HOUR = timedelta(hours=1)


def nightly(zone: str, last: datetime, days: int = 31, took: timedelta = HOUR / 60) -> Catalogue:
    """Nightly 02:00 local backups named in ``zone``; each file written ``took`` later."""
    where = ZoneInfo(zone)
    entries = []
    for day in range(days):
        local = (last - timedelta(days=day)).replace(hour=2, minute=0, second=0)
        real = local.replace(tzinfo=where).astimezone(UTC) + took
        entries.append((f"lms_{local:%Y%m%d_%H%M%S}.dump", 50_000, real.timestamp()))
    return Catalogue("/b", "db-1", PATTERN, zone, entries_to_backups(entries, PATTERN, zone), NOW)


NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def reread(cat: Catalogue, zone: str) -> Catalogue:
    """The same files, configured with another zone."""
    entries = [(b.name, b.size, b.mtime.timestamp()) for b in cat.backups]
    found = entries_to_backups(entries, PATTERN, zone)
    return Catalogue(cat.directory, cat.host, PATTERN, zone, found, cat.measured_at)


def test_a_utc_plus_2_host_agrees_when_its_zone_is_configured() -> None:
    cat = nightly("Europe/Kaliningrad", datetime(2026, 11, 28))
    assert clock_disagreements(cat, HOUR) == []
    assert cat.backups[-1].taken_at == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
    assert daily_gaps(cat, 7) == []


def test_a_host_crossing_a_dst_change_agrees_every_night() -> None:
    # Europe/Berlin went from CEST to CET on 2026-10-25; the 31 nights span the change.
    cat = nightly("Europe/Berlin", datetime(2026, 11, 10))
    assert clock_disagreements(cat, HOUR) == []
    offsets = {b.stamp - b.taken_at.replace(tzinfo=None) for b in cat.backups}
    assert offsets == {HOUR, 2 * HOUR}


def test_the_wrong_zone_is_named_as_a_zone_problem_not_a_clock_problem() -> None:
    wrong = reread(nightly("Europe/Kaliningrad", datetime(2026, 11, 28)), "UTC")
    assert len(clock_disagreements(wrong, HOUR)) == 31
    hint = names_zone_hint(wrong, HOUR)
    assert hint is not None and str(hint).startswith("local time UTC+2 (e.g. Europe/")


def test_a_dst_zone_read_as_utc_is_named_with_both_offsets() -> None:
    wrong = reread(nightly("Europe/Berlin", datetime(2026, 11, 10)), "UTC")
    hint = names_zone_hint(wrong, HOUR)
    assert hint is not None and str(hint).startswith("local time UTC+1/UTC+2 (e.g. Europe/")
    assert "Europe/Berlin" in str(hint) or "Europe/Amsterdam" in str(hint)


def test_files_touched_at_random_are_a_clock_problem() -> None:
    cat = nightly("UTC", datetime(2026, 11, 28))
    entries = [(b.name, b.size, b.mtime.timestamp()) for b in cat.backups]
    entries[3] = (entries[3][0], 1, (NOW - timedelta(days=1, minutes=17)).timestamp())
    entries[9] = (entries[9][0], 1, NOW.timestamp())
    odd = Catalogue("/b", "db-1", PATTERN, "UTC", entries_to_backups(entries, PATTERN), NOW)
    assert len(clock_disagreements(odd, HOUR)) == 2
    assert names_zone_hint(odd, HOUR) is None


def test_ambiguous_and_skipped_local_times_have_two_readings() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    repeated = read_local(datetime(2026, 10, 25, 2, 30), berlin)  # happens twice
    assert repeated.ambiguous
    assert repeated.earliest == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert repeated.latest == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    # The file written at the second 02:30 (+1 min) matches the later reading: no disagreement.
    assert repeated.distance(datetime(2026, 10, 25, 1, 31, tzinfo=UTC)) == timedelta(minutes=1)
    skipped = read_local(datetime(2026, 3, 29, 2, 30), berlin)  # never shown by a correct clock
    assert skipped.ambiguous
    assert skipped.earliest == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert skipped.latest == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    plain = read_local(datetime(2026, 11, 28, 2, 0), berlin)
    assert not plain.ambiguous and plain.earliest == datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


def test_a_backup_in_the_repeated_hour_is_aged_by_its_earlier_reading() -> None:
    written = datetime(2026, 10, 25, 1, 31, tzinfo=UTC).timestamp()  # the second 02:30, +1m
    entries = [("lms_20261025_023000.dump", 1, written)]
    (found,) = entries_to_backups(entries, PATTERN, "Europe/Berlin")
    assert found.taken_at == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert found.skew == timedelta(minutes=1)


@pytest.mark.parametrize(
    ("offset", "text"),
    [(timedelta(0), "UTC"), (2 * HOUR, "UTC+2"), (-timedelta(hours=3, minutes=30), "UTC-3:30")],
)
def test_offsets_read_like_people_write_them(offset: timedelta, text: str) -> None:
    assert describe_offset(offset) == text


def test_zones_that_read_names_like_the_configured_one_are_no_remedy() -> None:
    # In November Europe/London is UTC+0: it "explains" correct UTC names, and fixes nothing.
    # A backup dated 3 days ahead whose mtime agrees with its name: a clock, not a zone.
    cat = nightly("UTC", datetime(2026, 11, 28))
    entries = [(b.name, b.size, b.mtime.timestamp()) for b in cat.backups]
    ahead = NOW + timedelta(days=3)
    entries.append((f"lms_{ahead:%Y%m%d_%H%M%S}.dump", 1, ahead.timestamp()))
    odd = Catalogue("/b", "db-1", PATTERN, "UTC", entries_to_backups(entries, PATTERN), NOW)
    assert clock_disagreements(odd, HOUR) == []
    assert names_zone_hint(odd, HOUR) is None
