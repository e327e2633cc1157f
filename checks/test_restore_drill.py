"""Restore drill: a weekly drill restores the newest backup, and its log proves it (2.2, 6.1)."""

from __future__ import annotations

import pytest

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import Policy, RestoreDrill
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.probes.drill_evidence import DrillEvidence, DrillLogs, retention_floor
from lms_opscheck.probes.drill_log import parse_drill_log
from lms_opscheck.probes.restore_drill import DrillResult

WEEKLY = "2.2 Restore Drill Execution"
ACTIVE = "6.1 Full System Restoration"
RERUN = "Run the restore drill (`pytest -m drill --env <env>` or the LMS script) and read its log."


def _newest(latest: DrillEvidence | None, logs: DrillLogs) -> DrillEvidence:
    __tracebackhide__ = True
    assert latest is not None, f"no restore-drill log in {logs.location}; the drill never ran"
    return latest


def _restored(drill: DrillResult) -> DrillResult:
    __tracebackhide__ = True
    assert drill.restore_error is None, f"{drill} did not restore: {drill.restore_error}"
    return drill


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
    assert not future, (
        f"{len(future)} drill log(s) dated in the future in {drill_logs.location}: "
        f"{', '.join(drill_logs.ahead(f) for f in future[:5])}; clock tolerance is {tolerance}; "
        f"newest dated log: {drill_logs.describe(newest) if newest else 'none'}"
    )
    assert newest is not None, f"no restore-drill log in {drill_logs.location}; drills never ran"
    age = newest.age(drill_logs.now)
    evidence.record("newest_age", format_duration(age), threshold=threshold, target=newest.name)
    assert age <= limit, (
        f"newest drill log {drill_logs.describe(newest)}; drills run every "
        f"{format_duration(policy.drill_interval)} (+{format_duration(policy.drill_grace)} grace)"
    )


@pytest.mark.weekly
@pytest.mark.control("DRL-02", severity="critical", runbook=WEEKLY, remediation=RERUN)
def test_the_latest_restore_drill_completed_successfully(
    latest_drill: DrillEvidence | None, drill_logs: DrillLogs, evidence: EvidenceLog
) -> None:
    """The newest drill transcript ends with 'Restore drill completed successfully'."""
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
    evidence.record("duration", shown, threshold=f"<= {rto}", target=str(drill))
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
    span, keep = format_duration(drill_logs.span), format_duration(policy.drill_log_retention)
    evidence.record("oldest_age", span, threshold=f">= {format_duration(floor)}")
    evidence.record("logs", len(drill_logs.files), target=drill_logs.location)
    assert drill_logs.span >= floor, (
        f"oldest drill log in {drill_logs.location} is {span} old ({len(drill_logs.files)} kept); "
        f"retention is {keep}, so one at least {format_duration(floor)} old must remain"
    )


@pytest.mark.drill
@pytest.mark.control("DRL-06", severity="critical", runbook=ACTIVE, remediation=RERUN)
def test_newest_backup_restores_into_a_scratch_database(
    restore_drill: DrillResult, evidence: EvidenceLog
) -> None:
    """The newest backup restores with pg_restore into a fresh lms_restore_drill_* database."""
    evidence.record("scratch", restore_drill.scratch, target=restore_drill.server)
    evidence.record("backup", restore_drill.backup.name, target=restore_drill.server)
    _restored(restore_drill)


@pytest.mark.drill
@pytest.mark.control("DRL-07", severity="critical", runbook=ACTIVE, remediation=RERUN)
def test_restored_database_has_the_minimum_public_tables(
    restore_drill: DrillResult, policy: Policy, evidence: EvidenceLog
) -> None:
    """The restored copy has at least the minimum number of public tables."""
    drill, minimum = _restored(restore_drill), policy.drill_min_tables
    evidence.record("tables", drill.table_count, threshold=f">= {minimum}", target=str(drill))
    assert (drill.table_count or 0) >= minimum, (
        f"{drill} has {drill.table_count} public tables; minimum is {minimum}"
    )


@pytest.mark.drill
@pytest.mark.control("DRL-08", severity="high", runbook=ACTIVE, remediation=RERUN)
def test_restored_database_carries_its_alembic_revision(
    restore_drill: DrillResult, drill_settings: RestoreDrill, evidence: EvidenceLog
) -> None:
    """The restored copy has alembic_version, at the expected revision when one is configured."""
    drill, expected = _restored(restore_drill), drill_settings.expected_revision
    evidence.record("revision", drill.revision, threshold=expected, target=str(drill))
    assert drill.has_alembic, f"{drill} has no alembic_version table"
    if expected:
        assert drill.revision == expected, (
            f"{drill} is at revision {drill.revision}; expected {expected}"
        )


@pytest.mark.drill
@pytest.mark.control("DRL-09", severity="high", runbook=ACTIVE, remediation=RERUN)
def test_key_tables_hold_rows_after_the_restore(
    restore_drill: DrillResult, evidence: EvidenceLog
) -> None:
    """Every key table (users, courses, payments...) exists and holds rows in the restored copy."""
    drill = _restored(restore_drill)
    counts = {c.table: c.restored for c in drill.row_counts}
    evidence.record("rows", counts, threshold="> 0 each", target=str(drill))
    bad = {table: n for table, n in counts.items() if not n}
    assert not bad, f"{drill}: key tables missing or empty: {bad}"


@pytest.mark.drill
@pytest.mark.control("DRL-10", severity="medium", runbook=ACTIVE, remediation=RERUN)
def test_restored_row_counts_match_the_source_within_tolerance(
    compared_drill: DrillResult, drill_settings: RestoreDrill, evidence: EvidenceLog
) -> None:
    """Key tables' row counts are within the tolerance of the live database (read only)."""
    drill, tolerance = _restored(compared_drill), drill_settings.row_count_tolerance
    if drill.source_note:  # only when targets.postgres is absent; unmeasurable is an error
        pytest.skip(f"row counts not compared: {drill.source_note}")
    pairs = {c.table: f"{c.restored} vs {c.source}" for c in drill.row_counts}
    evidence.record("restored_vs_source", pairs, threshold=f"±{tolerance:.0%}")
    off = {c.table: pairs[c.table] for c in drill.row_counts if not c.within(tolerance)}
    assert not off, (
        f"{drill}: row counts differ from the source by more than {tolerance:.0%}: {off}"
    )


@pytest.mark.drill
@pytest.mark.control("DRL-11", severity="high", runbook=ACTIVE, remediation=RERUN)
def test_restore_drill_finishes_within_the_rto(
    restore_drill: DrillResult, policy: Policy, evidence: EvidenceLog
) -> None:
    """The whole drill (create, restore, validate, drop) took no longer than the RTO."""
    took, rto = format_duration(restore_drill.duration), format_duration(policy.rto)
    evidence.record("duration", took, threshold=f"<= {rto}", target=str(restore_drill))
    if restore_drill.restore_time is not None:
        evidence.record("pg_restore", format_duration(restore_drill.restore_time))
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
    """The scratch database is gone afterwards and the drill left a log the weekly review reads."""
    evidence.record("dropped", restore_drill.dropped, threshold="True", target=restore_drill.server)
    evidence.record("log", str(restore_drill.log))
    assert restore_drill.dropped, f"{restore_drill.scratch} is still on {restore_drill.server}"
    logged = parse_drill_log(restore_drill.log.read_bytes())
    assert logged.succeeded == (restore_drill.error is None), (
        f"{restore_drill.log} says succeeded={logged.succeeded}; the drill's error: "
        f"{restore_drill.error}"
    )
