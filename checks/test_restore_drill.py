"""Restore drill: a weekly drill restores the newest backup, and its log proves it (2.2, 6.1)."""

from __future__ import annotations

import pytest

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import Policy, RestoreDrill
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.probes.backups import Catalogue
from lms_opscheck.probes.drill_evidence import (
    DrillEvidence,
    DrillLogs,
    RestoredBackup,
    retention_floor,
)
from lms_opscheck.probes.drill_log import parse_drill_log
from lms_opscheck.probes.drill_rows import Examination, TableRows
from lms_opscheck.probes.restore_drill import DrillResult

WEEKLY = "2.2 Restore Drill Execution"
ACTIVE = "6.1 Full System Restoration"
RERUN = "Run the restore drill (`pytest -m drill --env <env>` or the LMS script) and read its log."


def _newest(latest: DrillEvidence | None, logs: DrillLogs) -> DrillEvidence:
    __tracebackhide__ = True
    assert latest is not None, f"no restore-drill log in {logs.location}; the drill never ran"
    return latest


def _restored(drill: DrillResult) -> DrillResult:
    """The drill, if it restored; *error* when it could not restore or examine (unreadable
    backup, tool or server problem), *failed* when pg_restore failed or was stopped."""
    __tracebackhide__ = True
    if drill.error is not None:
        raise drill.error
    assert drill.interrupted is None, f"{drill} was interrupted: {drill.interrupted}"
    assert drill.restore_error is None, f"{drill} did not restore: {drill.restore_error}"
    return drill


def _examined(drill: DrillResult) -> Examination:
    __tracebackhide__ = True
    exam = _restored(drill).examination
    assert exam is not None, f"{drill}: the restored copy was not examined"
    return exam


@pytest.mark.weekly
@pytest.mark.control("DRL-01", severity="critical", runbook=WEEKLY, remediation=RERUN)
def test_a_restore_drill_ran_within_the_drill_interval(
    drill_logs: DrillLogs, policy: Policy, evidence: EvidenceLog
) -> None:
    """A drill log was written within the drill interval (plus grace), and none in the future."""
    limit = policy.drill_interval + policy.drill_grace
    newest, future = drill_logs.newest, drill_logs.future
    threshold = f"<= {format_duration(limit)}"
    tolerance = format_duration(drill_logs.tolerance)
    evidence.record("logs", len(drill_logs.files), target=drill_logs.location)
    evidence.record("future_dated", [f.name for f in future], threshold=f"none (+{tolerance})")
    if future:
        hint = drill_logs.zone_hint(future)
        advice = (
            f"; their names read as {hint}: set artifacts.drill_logs.timezone to the drill "
            "host's zone"
            if hint
            else ""
        )
        pytest.fail(
            f"{len(future)} drill log(s) dated in the future in {drill_logs.location}: "
            f"{', '.join(drill_logs.ahead(f) for f in future[:5])}; clock tolerance is "
            f"{tolerance}; newest dated log: "
            f"{drill_logs.describe(newest) if newest else 'none'}{advice}",
            pytrace=False,
        )
    assert newest is not None, f"no restore-drill log in {drill_logs.location}; drills never ran"
    age = newest.age(drill_logs.now)
    evidence.record("newest_age", age, threshold=threshold, target=newest.name)
    assert age <= limit, (
        f"newest drill log {drill_logs.describe(newest)}; drills run every "
        f"{format_duration(policy.drill_interval)} (+{format_duration(policy.drill_grace)} grace)"
    )


@pytest.mark.weekly
@pytest.mark.control("DRL-02", severity="critical", runbook=WEEKLY, remediation=RERUN)
def test_the_latest_restore_drill_completed_successfully(
    latest_drill: DrillEvidence | None, drill_logs: DrillLogs, evidence: EvidenceLog
) -> None:
    """The newest drill log records a successful restore: the transcript's 'Restore drill
    completed successfully', or the suite's own log's 'restore: succeeded'."""
    drill = _newest(latest_drill, drill_logs)
    evidence.record("last_step", drill.log.last_step, target=str(drill))
    evidence.record("error", drill.log.error or "none", target=str(drill))
    assert not drill.outcome, f"restore drill {drill} {drill.outcome}"


@pytest.mark.weekly
@pytest.mark.control("DRL-03", severity="critical", runbook=WEEKLY, remediation=RERUN)
def test_the_latest_drill_restored_at_least_the_minimum_tables(
    latest_drill: DrillEvidence | None, drill_logs: DrillLogs, policy: Policy, evidence: EvidenceLog
) -> None:
    """The newest drill counted at least the minimum number of public tables."""
    drill = _newest(latest_drill, drill_logs)
    tables, minimum = drill.log.table_count, policy.drill_min_tables
    evidence.record("table_count", tables, threshold=f">= {minimum}", target=str(drill))
    assert tables is not None, f"restore drill {drill} reports no table count; minimum {minimum}"
    assert tables >= minimum, f"restore drill {drill} saw {tables} tables; minimum is {minimum}"


@pytest.mark.weekly
@pytest.mark.control("DRL-04", severity="high", runbook=WEEKLY, remediation=RERUN)
def test_the_latest_drill_finished_within_the_rto(
    latest_drill: DrillEvidence | None, drill_logs: DrillLogs, policy: Policy, evidence: EvidenceLog
) -> None:
    """The newest drill took no longer than the recovery time objective, start to end."""
    drill = _newest(latest_drill, drill_logs)
    rto, took = format_duration(policy.rto), drill.log.duration
    shown = format_duration(took) if took is not None else "unknown"
    evidence.record("duration", took, threshold=f"<= {rto}", target=str(drill))
    assert took is not None, f"restore drill {drill} has no start and end time; RTO is {rto}"
    assert took <= policy.rto, f"restore drill {drill} took {shown}; RTO is {rto}"


@pytest.mark.weekly
@pytest.mark.monthly
@pytest.mark.control(
    "DRL-05",
    severity="medium",
    runbook=WEEKLY,
    remediation="Keep backups/drill_logs for the retention period; check the cleanup job.",
)
def test_drill_logs_are_kept_for_the_retention_period(
    drill_logs: DrillLogs, policy: Policy, evidence: EvidenceLog
) -> None:
    """Drill logs reach back the retention period (one drill per interval, so minus one)."""
    floor = retention_floor(policy.drill_log_retention, policy.drill_interval, policy.drill_grace)
    keep = format_duration(policy.drill_log_retention)
    evidence.record("logs", len(drill_logs.files), target=drill_logs.location)
    # With a retention shorter than the interval the floor is 0: none kept must still fail.
    assert drill_logs.span is not None, (
        f"no drill log in {drill_logs.location} (0 examined); retention is {keep}, so at least "
        "the newest drill's log must be kept"
    )
    span = format_duration(drill_logs.span)
    evidence.record("oldest_age", drill_logs.span, threshold=f">= {format_duration(floor)}")
    assert drill_logs.span >= floor, (
        f"oldest drill log in {drill_logs.location} is {span} old ({len(drill_logs.files)} kept); "
        f"retention is {keep}, so one at least {format_duration(floor)} old must remain"
    )


@pytest.mark.weekly
@pytest.mark.control(
    "DRL-13",
    severity="critical",
    runbook=WEEKLY,
    remediation=(
        "Make the drill restore the newest backup (the LMS script takes a fresh one; "
        "`pytest -m drill` restores the newest): a drill of an old dump proves nothing about "
        "tonight's."
    ),
)
def test_the_latest_drill_restored_a_current_backup(
    latest_drill: DrillEvidence | None,
    drill_logs: DrillLogs,
    latest_drill_backup: RestoredBackup | None,
    backups: Catalogue,
    policy: Policy,
    evidence: EvidenceLog,
) -> None:
    """The newest drill restored a backup no older than the backup that was newest when it ran,
    plus the RPO (read from the drill log: both formats name the backup)."""
    drill = _newest(latest_drill, drill_logs)
    restored = latest_drill_backup
    assert restored is not None
    newest_then = restored.newest_then
    evidence.record("restored", restored.name, target=str(drill))
    evidence.record("restored_taken_at", restored.taken_at, target=backups.where)
    evidence.record(
        "newest_at_drill_time", newest_then.name if newest_then else None, target=backups.where
    )
    assert restored.problem is None and restored.lag is not None, (
        f"restore drill {drill} cannot be tied to a backup: {restored.problem}; the newest "
        f"backup at drill time was {newest_then or 'none'} ({backups.where})"
    )
    rpo = format_duration(policy.rpo)
    evidence.record("older_than_newest_by", restored.lag, threshold=f"<= {rpo}")
    reference = (
        f"the newest backup at drill time, {newest_then}"
        if newest_then
        else f"the drill itself ({restored.drill_at:%Y-%m-%d %H:%M} UTC)"
    )
    assert restored.lag <= policy.rpo, (
        f"restore drill {drill} restored {restored.name}, {format_duration(restored.lag)} older "
        f"than {reference}; at most the RPO ({rpo}) is allowed ({backups.where})"
    )


@pytest.mark.drill
@pytest.mark.control("DRL-06", severity="critical", runbook=ACTIVE, remediation=RERUN)
def test_newest_backup_restores_into_a_scratch_database(
    restore_drill: DrillResult, evidence: EvidenceLog
) -> None:
    """The newest backup restores with pg_restore into a fresh lms_restore_drill_* database."""
    evidence.record("scratch", restore_drill.scratch, target=restore_drill.server)
    evidence.record("backup", restore_drill.backup.name, target=restore_drill.server)
    evidence.record("size", restore_drill.size, unit="B", target=restore_drill.backup.name)
    if restore_drill.restore_time is not None:
        evidence.record("pg_restore_time", restore_drill.restore_time)
    _restored(restore_drill)


@pytest.mark.drill
@pytest.mark.control("DRL-07", severity="critical", runbook=ACTIVE, remediation=RERUN)
def test_restored_database_has_the_tables_of_the_dump(
    restore_drill: DrillResult, policy: Policy, evidence: EvidenceLog
) -> None:
    """The restored copy has every public table the dump lists, and at least the minimum."""
    exam, minimum = _examined(restore_drill), policy.drill_min_tables
    dump = exam.dump_tables
    threshold = f">= max({minimum}, {dump} listed in the dump)"
    evidence.record("tables", exam.table_count, threshold=threshold, target=str(restore_drill))
    assert exam.tables_ok(), (
        f"{restore_drill} has {exam.table_count} public tables; the dump lists "
        f"{dump if dump is not None else 'an unknown number'} and the minimum is {minimum}"
    )


@pytest.mark.drill
@pytest.mark.control("DRL-08", severity="high", runbook=ACTIVE, remediation=RERUN)
def test_restored_database_carries_its_alembic_revision(
    restore_drill: DrillResult, drill_settings: RestoreDrill, evidence: EvidenceLog
) -> None:
    """The restored copy has alembic_version, at the expected revision when one is configured."""
    exam, expected = _examined(restore_drill), drill_settings.expected_revision
    evidence.record("revision", exam.revision, threshold=expected, target=str(restore_drill))
    assert exam.has_alembic, f"{restore_drill} has no alembic_version table"
    assert exam.revision is not None, f"{restore_drill}: alembic_version holds no revision"
    if expected:
        assert exam.revision == expected, (
            f"{restore_drill} is at revision {exam.revision}; expected {expected}"
        )


@pytest.mark.drill
@pytest.mark.control("DRL-09", severity="high", runbook=ACTIVE, remediation=RERUN)
def test_key_tables_hold_rows_after_the_restore(
    restore_drill: DrillResult, evidence: EvidenceLog
) -> None:
    """Every key table (users, courses, payments...) exists and holds rows in the restored copy."""
    exam = _examined(restore_drill)
    counts = {r.table: r.restored for r in exam.rows}
    evidence.record("rows", counts, threshold="> 0 each", target=str(restore_drill))
    bad = {table: n for table, n in counts.items() if not n}
    assert not bad, f"{restore_drill}: key tables missing or empty: {bad}"


@pytest.mark.drill
@pytest.mark.control("DRL-10", severity="medium", runbook=ACTIVE, remediation=RERUN)
def test_restored_rows_match_the_source_as_of_the_dump(
    compared_drill: DrillResult, drill_settings: RestoreDrill, evidence: EvidenceLog
) -> None:
    """The restore holds the key tables' rows the live database held at the dump: rows created
    before the dump where a timestamp column exists, else counts within the growth allowance."""
    exam = _examined(compared_drill)
    if exam.source_note:  # only when targets.postgres is absent; unmeasurable is an error
        pytest.skip(f"row counts not compared: {exam.source_note}")
    tolerance, growth = drill_settings.row_count_tolerance, drill_settings.growth_allowance
    evidence.record(
        "rows", {r.table: str(r) for r in exam.rows}, threshold=_rows_threshold(tolerance, growth)
    )
    off = exam.incomplete()
    assert not off, f"{compared_drill} lacks rows the source held at the dump: " + "; ".join(
        _lacking(r, tolerance, growth) for r in off
    )


def _rows_threshold(tolerance: float, growth: float) -> str:
    return (
        f"rows created before the dump: restore lacks <= {tolerance:.0%}; "
        f"undated tables: source <= restored + {growth:.0%}"
    )


def _lacking(rows: TableRows, tolerance: float, growth: float) -> str:
    if rows.restored is None:
        return f"{rows.table} is missing from the restore"
    if rows.dated:
        return (
            f"{rows.table}: {rows.lacking} of the source's {rows.source_before} rows created "
            f"before the dump are not in the restore ({rows}); tolerance {tolerance:.0%}"
        )
    return (
        f"{rows.table}: {rows.restored} restored, {rows.source} in the source now, more than "
        f"the {growth:.0%} growth allowance (no timestamp column to compare older rows)"
    )


@pytest.mark.drill
@pytest.mark.control(
    "DRL-14",
    severity="low",
    runbook=ACTIVE,
    remediation=(
        "Rows the backup holds are gone from the live database: check for deletions since the "
        "dump (a purge job, or data loss). The restore itself is fine."
    ),
)
def test_live_database_kept_the_rows_of_the_dump(
    compared_drill: DrillResult, drill_settings: RestoreDrill, evidence: EvidenceLog
) -> None:
    """Drift since the dump: the live database gained rows (reported) and lost no more of the
    dump's rows than the tolerance."""
    exam = _examined(compared_drill)
    if exam.source_note:
        pytest.skip(f"drift not measured: {exam.source_note}")
    tolerance = drill_settings.row_count_tolerance
    evidence.record("added_since_the_dump", {r.table: r.added_since for r in exam.rows})
    evidence.record(
        "removed_since_the_dump",
        {r.table: r.removed_since for r in exam.rows},
        threshold=f"<= {tolerance:.0%} of the dump's rows",
    )
    lost = exam.drifted()
    assert not lost, (
        f"{compared_drill}: the live database no longer has rows the dump holds: "
        + ", ".join(f"{r.table} -{r.removed_since} ({r})" for r in lost)
        + f"; tolerance {tolerance:.0%}"
    )


@pytest.mark.drill
@pytest.mark.control("DRL-11", severity="high", runbook=ACTIVE, remediation=RERUN)
def test_restore_drill_finishes_within_the_rto(
    restore_drill: DrillResult, policy: Policy, evidence: EvidenceLog
) -> None:
    """The whole drill (create, restore, validate, drop) took no longer than the RTO."""
    took, rto = format_duration(restore_drill.duration), format_duration(policy.rto)
    evidence.record(
        "duration", restore_drill.duration, threshold=f"<= {rto}", target=str(restore_drill)
    )
    assert restore_drill.duration <= policy.rto, f"{restore_drill} took {took}; RTO is {rto}"


@pytest.mark.drill
@pytest.mark.control(
    "DRL-12",
    severity="critical",
    runbook=ACTIVE,
    remediation="Drop the lms_restore_drill_* database named in the message by hand.",
)
def test_scratch_database_is_dropped_and_the_drill_logged(
    restore_drill: DrillResult, evidence: EvidenceLog
) -> None:
    """The scratch database is gone afterwards and the drill left a log the weekly review reads,
    recording the restore's result."""
    evidence.record("dropped", restore_drill.dropped, threshold="True", target=restore_drill.server)
    evidence.record("log", str(restore_drill.log))
    assert restore_drill.dropped, f"{restore_drill.scratch} is still on {restore_drill.server}"
    assert restore_drill.log_error is None, f"{restore_drill}: {restore_drill.log_error}"
    logged = parse_drill_log(restore_drill.log.read_bytes())
    assert logged.succeeded == restore_drill.restored, (
        f"{restore_drill.log} says succeeded={logged.succeeded}; the drill's result: "
        f"{restore_drill.restore_error or restore_drill.interrupted or 'restored'}"
    )
