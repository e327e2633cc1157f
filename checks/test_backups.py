"""Backups: the LMS database is dumped every night, completely, and kept as long as policy says."""

from __future__ import annotations

import pytest

from lms_opscheck.config.durations import format_duration as fmt
from lms_opscheck.config.model import BackupLocation, Policy
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.probes import archive
from lms_opscheck.probes.backups import (
    Backup,
    Catalogue,
    clock_disagreements,
    daily_gaps,
    future_dated,
    oldest_age,
    past_retention,
    size_verdict,
)

RUNBOOK = "2.1 Backup Verification"


def _newest(backups: Catalogue, latest: Backup | None) -> Backup:
    __tracebackhide__ = True
    assert latest is not None, f"no backup matching {backups.pattern!r} in {backups.where}"
    return latest


@pytest.mark.daily
@pytest.mark.control(
    "BKP-01",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Check the nightly pg_dump job (cron/scheduler logs) and run it by hand now.",
)
def test_newest_backup_is_younger_than_rpo(
    backups: Catalogue, latest_backup: Backup | None, policy: Policy, evidence: EvidenceLog
) -> None:
    """The newest database dump is younger than the recovery point objective."""
    evidence.record("backups", len(backups), target=backups.where)
    newest = _newest(backups, latest_backup)
    age = newest.age(backups.measured_at)
    evidence.record("newest", newest.name, target=backups.where)
    evidence.record("age", fmt(age), threshold=f"<= {fmt(policy.rpo)}", target=backups.where)
    assert age <= policy.rpo, (
        f"backup {newest} is {fmt(age)} old; RPO is {fmt(policy.rpo)} ({backups.where})"
    )


@pytest.mark.daily
@pytest.mark.control(
    "BKP-02",
    severity="high",
    runbook=RUNBOOK,
    remediation="Check the backup host's clock (NTP) and that no job renames or copies old dumps.",
)
def test_backup_times_agree_with_file_times(
    backups: Catalogue, policy: Policy, evidence: EvidenceLog
) -> None:
    """Every backup's time in its name agrees with its file time, and none is in the future."""
    tolerance = policy.backup_clock_tolerance
    future = future_dated(backups, tolerance)
    skewed = clock_disagreements(backups, tolerance)
    evidence.record("future_dated", [b.name for b in future], threshold="none")
    evidence.record(
        "name_vs_mtime",
        [f"{b.name} {fmt(b.skew)}" for b in skewed],
        threshold=f"<= {fmt(tolerance)}",
    )
    assert not future, (
        f"{len(future)} backup(s) dated in the future in {backups.where}: "
        f"{', '.join(f'{b} is {fmt(-b.age(backups.measured_at))} ahead' for b in future[:5])}; "
        f"clock tolerance is {fmt(tolerance)}"
    )
    assert not skewed, (
        f"{len(skewed)} backup(s) in {backups.where} whose mtime disagrees with the time in their "
        f"name: {', '.join(f'{b} mtime {fmt(b.skew)} off' for b in skewed[:5])}; "
        f"tolerance is {fmt(tolerance)}"
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
    evidence.record("median_of_previous", median, target=f"{verdict.compared} backup(s)")
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
    remediation="Re-run pg_dump -Fc of the LMS database; check the job dumps the right database.",
)
def test_newest_backup_is_a_restorable_archive_of_the_lms(
    backups: Catalogue,
    latest_backup: Backup | None,
    latest_listing: archive.Listing | None,
    recent_formats: dict[str, str],
    backup_location: BackupLocation,
    evidence: EvidenceLog,
) -> None:
    """pg_restore --list reads the newest dump as a custom-format archive with the key tables."""
    newest = _newest(backups, latest_backup)
    if backup_location.encrypted:
        pytest.skip("backups are encrypted: the restore drill (DRL) proves they restore")
    assert latest_listing is not None
    found = recent_formats.get(newest.name, "unknown")
    evidence.record("header", found, threshold="custom", target=newest.name)
    assert latest_listing.ok, (
        f"backup {newest} is not a valid custom-format archive: it looks like "
        f"{archive.FORMATS.get(found, found)}; pg_restore --list: {latest_listing.error} "
        f"({backups.where})"
    )
    expected = backup_location.expected_tables
    missing = latest_listing.missing(expected)
    evidence.record("database", latest_listing.dbname, target=newest.name)
    evidence.record("tables", len(latest_listing.tables), target=newest.name)
    evidence.record("missing_tables", missing, threshold="none", target=newest.name)
    assert not missing, (
        f"backup {newest} (database {latest_listing.dbname!r}) lacks {len(missing)} of the "
        f"{len(expected)} expected tables: {', '.join(missing)} ({backups.where})"
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
    evidence.record("oldest_age", shown, threshold=f">= {retention}", target=backups.where)
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
    stale = past_retention(backups, limit)
    evidence.record(
        "past_retention", [b.name for b in stale], threshold=f"none older than {fmt(limit)}"
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
    remediation="Encrypt dumps at rest (e.g. pg_dump -Fc | gpg --encrypt) as the policy requires.",
)
def test_backups_are_encrypted_where_policy_requires(
    backups: Catalogue,
    recent_formats: dict[str, str],
    backup_location: BackupLocation,
    evidence: EvidenceLog,
) -> None:
    """Where policy requires encryption, recent backups exist and none has a readable header."""
    required = backup_location.encrypted
    evidence.record("encryption_required", required, target=backups.where)
    if not required:
        # Nothing is measured, so the report must not show the control as met.
        pytest.skip(
            "not applicable: artifacts.backups.encrypted is false (plain dumps are accepted "
            f"for {backups.where})"
        )
    evidence.record("formats", recent_formats, threshold="opaque each", target=backups.where)
    assert recent_formats, (
        f"no backup examined in {backups.where} (0 matching {backups.pattern!r}); the policy "
        "requires encryption (artifacts.backups.encrypted), so at least 1 must be examined"
    )
    readable = {name: fmt_ for name, fmt_ in recent_formats.items() if fmt_ != "opaque"}
    assert not readable, (
        f"{len(readable)} of the last {len(recent_formats)} backup(s) in {backups.where} are not "
        "encrypted: "
        + ", ".join(f"{name} is {archive.FORMATS[f]}" for name, f in sorted(readable.items()))
        + "; the policy requires encryption (artifacts.backups.encrypted)"
    )
