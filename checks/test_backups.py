"""Backups: the LMS database is dumped every night, completely, and kept as long as policy says."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lms_opscheck.config.durations import format_duration as fmt
from lms_opscheck.config.model import BackupLocation, Policy
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.probes import archive
from lms_opscheck.probes.backups import (
    ArchiveTime,
    Backup,
    Catalogue,
    clock_disagreements,
    daily_gaps,
    future_dated,
    names_zone_hint,
    oldest_age,
    past_retention,
    size_verdict,
)

RUNBOOK = "2.1 Backup Verification"


def _none_found(backups: Catalogue) -> str:
    return f"no backup matching {backups.pattern!r} in {backups.where}"


def _newest(backups: Catalogue, latest: Backup | None) -> Backup:
    __tracebackhide__ = True
    assert latest is not None, _none_found(backups)
    return latest


def _examined(backups: Catalogue) -> None:
    """A check over every backup must not pass on none: an empty folder proves nothing."""
    __tracebackhide__ = True
    assert len(backups), f"{_none_found(backups)}: 0 backups examined, nothing to verify"


@pytest.mark.daily
@pytest.mark.control(
    "BKP-01",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Check the nightly pg_dump job (cron/scheduler logs) and run it by hand now.",
)
def test_newest_backup_is_younger_than_rpo(
    backups: Catalogue,
    latest_backup: Backup | None,
    latest_listing: archive.Listing | None,
    latest_archive_time: ArchiveTime | None,
    policy: Policy,
    evidence: EvidenceLog,
) -> None:
    """The newest database dump is younger than the RPO, by its name and by its archive header."""
    evidence.record("backups", len(backups), target=backups.where)
    newest = _newest(backups, latest_backup)
    times = latest_archive_time
    taken = times.taken_at if times is not None else newest.taken_at
    age = backups.measured_at - taken
    evidence.record("newest", newest.name, target=backups.where)
    evidence.record("name_time", newest.taken_at, target=f"{newest.name} ({backups.timezone})")
    evidence.record("archive_time", _archive_time(times, latest_listing), target=newest.name)
    evidence.record("age", age, threshold=f"<= {fmt(policy.rpo)}", target=backups.where)
    basis = "by its name"
    if times is not None and times.archive_is_older:
        basis = (
            f"by its archive header (created at {times.created_text}; its name says "
            f"{newest.stamp:%Y-%m-%d %H:%M:%S} {backups.timezone})"
        )
    assert age <= policy.rpo, (
        f"backup {newest} is {fmt(age)} old {basis}; RPO is {fmt(policy.rpo)} ({backups.where})"
    )


def _archive_time(times: ArchiveTime | None, listing: archive.Listing | None) -> object:
    if times is not None:
        return times.created.earliest
    if listing is None:
        return "not read (backups are encrypted: pg_restore cannot list them)"
    return "none (not a readable archive: see BKP-04)"


@pytest.mark.daily
@pytest.mark.control(
    "BKP-02",
    severity="high",
    runbook=RUNBOOK,
    remediation=(
        "When the message says the names (or archive headers) read as another zone's local "
        "time, set artifacts.backups.timezone (or archive_timezone) to that host's zone. "
        "Otherwise check the backup host's clock (NTP) and that no job copies, renames or "
        "touches old dumps."
    ),
)
def test_backup_times_agree_with_file_times(
    backups: Catalogue,
    latest_archive_time: ArchiveTime | None,
    backup_location: BackupLocation,
    policy: Policy,
    evidence: EvidenceLog,
) -> None:
    """Every backup's name time agrees with its file time (the newest's with its archive's
    creation time too), and none is in the future."""
    tolerance = policy.backup_clock_tolerance
    _examined(backups)
    future = future_dated(backups, tolerance)
    skewed = clock_disagreements(backups, tolerance)
    evidence.record("examined", len(backups), target=backups.where)
    evidence.record("future_dated", [b.name for b in future], threshold="none")
    evidence.record(
        "name_vs_mtime",
        [f"{b.name} {fmt(b.skew)}" for b in skewed],
        threshold=f"<= {fmt(tolerance)}",
    )
    problems = []
    if future:
        ahead = ", ".join(f"{b} is {fmt(-b.age(backups.measured_at))} ahead" for b in future[:5])
        problems.append(
            f"{len(future)} backup(s) dated in the future in {backups.where}: {ahead}; clock "
            f"tolerance is {fmt(tolerance)}"
        )
    if skewed:
        off = ", ".join(f"{b} mtime {fmt(b.skew)} off" for b in skewed[:5])
        problems.append(
            f"{len(skewed)} of {len(backups)} backup(s) in {backups.where} have an mtime that "
            f"disagrees with the time in their name (read as {backups.timezone} local time): "
            f"{off}; tolerance is {fmt(tolerance)}"
        )
    if problems:
        hint = names_zone_hint(backups, tolerance)
        advice = (
            f"every name reads as {hint}: set artifacts.backups.timezone to the backup host's zone"
            if hint is not None
            else "no time zone explains it: check the backup host's clock (NTP) and that no "
            "job copies, renames or touches old dumps"
        )
        pytest.fail("; ".join([*problems, advice]), pytrace=False)
    if latest_archive_time is not None:
        _assert_archive_agrees(latest_archive_time, backup_location, tolerance, evidence)


def _assert_archive_agrees(
    times: ArchiveTime, location: BackupLocation, tolerance: timedelta, evidence: EvidenceLog
) -> None:
    __tracebackhide__ = True
    evidence.record(
        "name_vs_archive", times.gap, threshold=f"<= {fmt(tolerance)}", target=times.backup.name
    )
    if abs(times.gap) <= tolerance:
        return
    hint = times.archive_zone_hint(tolerance, location.archive_timezone)
    advice = (
        f"its header time reads as {hint}: set artifacts.backups.archive_timezone to the zone "
        "pg_dump runs in"
        if hint is not None
        else "no time zone explains it: the file is not the dump its name says (renamed or "
        "copied), or a clock is wrong"
    )
    pytest.fail(
        f"backup {times.backup}'s archive header says it was created at {times.created_text} "
        f"(read as {location.archive_timezone}), {fmt(times.gap)} from the time in its name; "
        f"tolerance is {fmt(tolerance)}; {advice} ({location.dir})",
        pytrace=False,
    )


@pytest.mark.daily
@pytest.mark.control(
    "BKP-03",
    severity="critical",
    runbook=RUNBOOK,
    remediation="A tiny dump usually means pg_dump failed inside a pipe: check the job's stderr.",
)
def test_newest_backup_is_not_suspiciously_small(
    backups: Catalogue, latest_backup: Backup | None, policy: Policy, evidence: EvidenceLog
) -> None:
    """The newest dump is at least the minimum size and a fraction of the recent median size."""
    newest = _newest(backups, latest_backup)
    window, ratio = policy.backup_size_window, policy.backup_min_ratio
    verdict = size_verdict(backups, newest, window, policy.backup_min_bytes, ratio)
    median = f"{verdict.median:.0f} B" if verdict.median is not None else "none"
    threshold = f">= max({policy.backup_min_bytes} B, {ratio} x median {median})"
    evidence.record("size", newest.size, unit="B", threshold=threshold, target=newest.name)
    evidence.record(
        "median_of_previous",
        verdict.median if verdict.median is not None else "none",
        unit="B" if verdict.median is not None else "",
        target=f"{verdict.compared} backup(s)",
    )
    assert verdict.ok, (
        f"backup {newest} is {newest.size} B; expected >= {verdict.floor:.0f} B "
        f"(minimum {policy.backup_min_bytes} B, {ratio} x median {median} of the previous "
        f"{verdict.compared}) ({backups.where})"
    )


@pytest.mark.daily
@pytest.mark.control(
    "BKP-04",
    severity="critical",
    runbook=RUNBOOK,
    remediation=(
        "Re-run pg_dump -Fc of the LMS database with its data (no --schema-only); check that "
        "the job dumps the right database (artifacts.backups.dbname)."
    ),
)
def test_newest_backup_is_a_restorable_archive_of_the_lms(
    backups: Catalogue,
    latest_backup: Backup | None,
    latest_listing: archive.Listing | None,
    recent_headers: dict[str, bytes],
    backup_location: BackupLocation,
    expected_dbname: str,
    evidence: EvidenceLog,
) -> None:
    """pg_restore --list reads the newest dump as a custom-format archive of the LMS database,
    with the key tables and their rows."""
    newest = _newest(backups, latest_backup)
    if backup_location.encrypted:
        pytest.skip(
            "not applicable: backups are encrypted (artifacts.backups.encrypted), so pg_restore "
            "cannot list them; BKP-08 checks the encryption"
        )
    listing = latest_listing
    assert listing is not None
    header = recent_headers.get(newest.name, b"")
    found = archive.sniff(header)
    evidence.record("header", found, threshold="custom", target=newest.name)
    assert listing.ok, (
        f"backup {newest} is not a valid custom-format archive: it looks like "
        f"{archive.describe(found, header)}; pg_restore --list: {listing.error} ({backups.where})"
    )
    evidence.record("database", listing.dbname, threshold=expected_dbname, target=newest.name)
    assert listing.dbname == expected_dbname, (
        f"backup {newest} is a dump of database {listing.dbname!r}; expected {expected_dbname!r} "
        f"(artifacts.backups.dbname) ({backups.where})"
    )
    expected = backup_location.expected_tables
    missing = listing.missing(expected)
    evidence.record("tables", len(listing.tables), target=newest.name)
    evidence.record("missing_tables", missing, threshold="none", target=newest.name)
    assert not missing, (
        f"backup {newest} (database {listing.dbname!r}) lacks {len(missing)} of the "
        f"{len(expected)} expected tables: {', '.join(missing)} ({backups.where})"
    )
    without_rows = listing.missing_data(expected)
    evidence.record("table_data_entries", len(listing.data), target=newest.name)
    evidence.record("tables_without_data", without_rows, threshold="none", target=newest.name)
    assert not without_rows, (
        f"backup {newest} carries no rows (no TABLE DATA entry) for {len(without_rows)} of the "
        f"{len(expected)} expected tables: {', '.join(without_rows)}; it has "
        f"{len(listing.data)} TABLE DATA entries in all"
        + (" (a schema-only dump)" if not listing.data else "")
        + f" ({backups.where})"
    )


@pytest.mark.daily
@pytest.mark.control(
    "BKP-05",
    severity="high",
    runbook=RUNBOOK,
    remediation="Find why the nightly job did not run on the missing day(s); the RPO was broken.",
)
def test_a_backup_was_taken_every_day(
    backups: Catalogue, policy: Policy, evidence: EvidenceLog
) -> None:
    """Every 24 hours of the last days (backup_daily_window) hold at least one backup."""
    days = policy.backup_daily_window
    gaps = daily_gaps(backups, days)
    evidence.record("days_without_backup", [str(g) for g in gaps], threshold=f"none in {days}d")
    assert not gaps, (
        f"{len(gaps)} of the last {days} days have no backup in {backups.where}: "
        f"{', '.join(str(g) for g in gaps)}"
    )


@pytest.mark.daily
@pytest.mark.monthly
@pytest.mark.control(
    "BKP-06",
    severity="high",
    runbook=RUNBOOK,
    remediation="Check the pruning job: it deletes backups the retention policy requires.",
)
def test_backups_cover_the_retention_period(
    backups: Catalogue, policy: Policy, evidence: EvidenceLog
) -> None:
    """The oldest backup reaches back at least the retention period."""
    age = oldest_age(backups)
    retention = fmt(policy.backup_retention)
    evidence.record("oldest", str(backups.oldest()), target=backups.where)
    shown = fmt(age) if age is not None else "none"
    evidence.record("oldest_age", age, threshold=f">= {retention}", target=backups.where)
    assert age is not None and age >= policy.backup_retention, (
        f"backups in {backups.where} reach back {shown} (oldest {backups.oldest()}); "
        f"retention is {retention}"
    )


@pytest.mark.daily
@pytest.mark.monthly
@pytest.mark.control(
    "BKP-07",
    severity="medium",
    runbook=RUNBOOK,
    remediation="Check the pruning job: backups past retention must be deleted (data protection).",
)
def test_no_backup_is_kept_past_retention(
    backups: Catalogue, policy: Policy, evidence: EvidenceLog
) -> None:
    """No backup is older than the retention period plus its grace."""
    limit = policy.backup_retention + policy.backup_retention_grace
    _examined(backups)
    stale = past_retention(backups, limit)
    evidence.record("examined", len(backups), target=backups.where)
    evidence.record(
        "past_retention",
        [b.name for b in stale],
        threshold=f"none older than {fmt(limit)}",
    )
    assert not stale, (
        f"{len(stale)} backup(s) in {backups.where} are kept past retention: oldest "
        f"{stale[0]} is {fmt(stale[0].age(backups.measured_at))} old; retention + grace is "
        f"{fmt(limit)}"
    )


@pytest.mark.daily
@pytest.mark.control(
    "BKP-08",
    severity="high",
    runbook=RUNBOOK,
    remediation=(
        "Encrypt dumps at rest as the policy requires (e.g. pg_dump -Fc | gpg --encrypt, age, "
        "or openssl enc); compression alone is not encryption."
    ),
)
def test_backups_are_encrypted_where_policy_requires(
    backups: Catalogue,
    recent_headers: dict[str, bytes],
    backup_location: BackupLocation,
    evidence: EvidenceLog,
) -> None:
    """Where policy requires encryption, recent backups exist and each starts with a recognised
    encryption header (OpenPGP, age, openssl enc)."""
    required = backup_location.encrypted
    evidence.record("encryption_required", required, target=backups.where)
    if not required:
        # Nothing is measured, so the report must not show the control as met.
        pytest.skip(
            "not applicable: artifacts.backups.encrypted is false (plain dumps are accepted "
            f"for {backups.where})"
        )
    formats = {name: archive.sniff(header) for name, header in recent_headers.items()}
    evidence.record("formats", formats, threshold="encrypted each", target=backups.where)
    assert formats, (
        f"no backup examined in {backups.where} (0 matching {backups.pattern!r}); the policy "
        "requires encryption (artifacts.backups.encrypted), so at least 1 must be examined"
    )
    plain = {name: kind for name, kind in formats.items() if kind not in archive.ENCRYPTED}
    assert not plain, (
        f"{len(plain)} of the last {len(formats)} backup(s) in {backups.where} are not "
        "recognisably encrypted: "
        + ", ".join(
            f"{name} is {archive.describe(kind, recent_headers[name])}"
            for name, kind in sorted(plain.items())
        )
        + "; the policy requires encryption (artifacts.backups.encrypted)"
    )
