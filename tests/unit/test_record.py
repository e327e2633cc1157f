"""The results record: evidence in base units, the verdict's pure steps, round trips."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from lms_opscheck.config.governance import Waiver
from lms_opscheck.fixtures.verdict import Verdict, assertion_message, decisive, make_record, waive
from lms_opscheck.record import (
    RecordError,
    Results,
    RunInfo,
    duration_seconds,
    failing_at_or_above,
    make_evidence,
    read_results,
    summarize,
)
from lms_opscheck.reports.summary import summary_line
from tests.support.sample_runs import check, control

TODAY = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("31h12m", 112320.0), ("30d2h1m", 2599260.0), ("850ms", 0.85), ("1.5s", 1.5), ("2w", 1209600)],
)
def test_displayed_durations_read_back_in_seconds(text: str, seconds: float) -> None:
    assert duration_seconds(text) == pytest.approx(seconds)


def test_evidence_keeps_numbers_in_base_units_and_caps_long_lists() -> None:
    age = make_evidence("age", timedelta(hours=31, minutes=12), threshold=timedelta(hours=24))
    assert (age.value, age.number, age.unit, age.threshold) == (
        "1d7h12m",
        112320.0,
        "seconds",
        "1d",
    )
    size = make_evidence("size", 3, unit="MiB")
    assert (size.value, size.number, size.unit) == ("3 MiB", 3 * 1024 * 1024, "bytes")
    names = make_evidence("past_retention", [f"lms_{n}.dump" for n in range(90_814)])
    assert names.number == 90_814 and names.value.endswith(", … 90804 more]")
    assert len(names.value) < 300
    assert make_evidence("legacy", "2h1m").number == 7260.0
    assert make_evidence("flag", True).number == 1.0


def test_the_checks_own_message_without_the_rewritten_assert() -> None:
    error = AssertionError("backup x is 31h old; RPO is 24h\nassert 31 <= 24")
    assert assertion_message(error) == "backup x is 31h old; RPO is 24h"
    assert assertion_message(AssertionError("assert 3 >= 8")) == "assert 3 >= 8"


def waiver(expires: date) -> Waiver:
    return Waiver(control="BKP-01", reason="r", ticket="OPS-1", approver="lead", expires=expires)


FAILED = Verdict("call", "failed", "target unhealthy", "backup is 31h old; RPO is 24h")


def test_a_waiver_in_force_waives_a_measured_failure() -> None:
    waived = waive(
        FAILED, control("BKP-01"), [waiver(TODAY + timedelta(days=30))], TODAY, timedelta(days=90)
    )
    assert waived.outcome == "waived" and waived.waiver is not None
    assert waived.waiver.ticket == "OPS-1"


def test_a_waiver_beyond_the_maximum_length_is_not_applied_where_it_would_waive() -> None:
    kept = waive(FAILED, control("BKP-01"), [waiver(date(2099, 1, 1))], TODAY, timedelta(days=90))
    assert kept.outcome == "failed"
    assert kept.waiver_refused is not None and "maximum waiver length is 90d" in kept.waiver_refused


def test_could_not_measure_is_never_waived() -> None:
    error = Verdict("setup", "error", "could not measure", "refused")
    assert waive(error, control("BKP-01"), [waiver(TODAY)], TODAY, timedelta(days=90)) == error


def test_the_first_phase_that_did_not_pass_decides() -> None:
    phases = [
        Verdict("setup", "error", "could not measure", "db: refused", "db"),
        Verdict("teardown", "passed"),
    ]
    assert decisive(phases).outcome == "error"
    record = make_record("n::t[x]", control("HLT-03", "critical"), "x", phases, [], None, "t", 0.2)
    assert (record.outcome, record.category, record.target) == ("error", "could not measure", "x")
    assert record.headline() == "HLT-03 [critical] could not measure on x: db: refused"


def test_paging_counts_unmeasurable_critical_checks() -> None:
    checks = [
        check("HLT-01", "error", severity="critical"),
        check("BKP-07", "failed", severity="low"),
    ]
    summary = summarize(checks)
    assert summary.verdict() == "CRITICAL (1 unmeasurable critical check)"
    assert failing_at_or_above(summary, "critical")
    low_only = summarize([check("BKP-07", "failed", severity="low")])
    assert not failing_at_or_above(low_only, "high") and failing_at_or_above(low_only, "low")


def test_results_round_trip_and_refuse_other_schemas(tmp_path: Path) -> None:
    checks = (check("HLT-01", "passed"),)
    run = RunInfo(
        id="r",
        env="prod",
        env_identity="prod@x",
        started_at="2026-11-28T02:00:00Z",
        finished_at="2026-11-28T02:00:01Z",
        suite_version="0.1.0",
        selection="daily",
        host="h",
        exit_status=0,
    )
    results = Results(run=run, checks=checks, summary=summarize(checks))
    path = tmp_path / "results.json"
    results.write(path)
    assert read_results(path) == results
    assert path.read_text().startswith('{\n  "schema": "opscheck.results/2"')
    path.write_text(path.read_text().replace("results/2", "results/1"))
    with pytest.raises(RecordError, match=r"schema 'opscheck\.results/1'"):
        read_results(path)


def _results(checks: tuple[object, ...], exit_status: int) -> Results:
    run = RunInfo(
        id="r", env="prod", env_identity="prod@x", started_at="2026-11-28T02:00:00Z",
        finished_at="2026-11-28T02:00:01Z", suite_version="0.1.0", selection="daily",
        host="h", exit_status=exit_status,
    )  # fmt: skip
    return Results(run=run, checks=checks, summary=summarize(checks))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("checks", "exit_status", "verdict"),
    [
        ((), 3, "NO VERDICT (the suite stopped: pytest exit 3)"),
        (("passed",), 4, "NO VERDICT (the suite stopped: pytest exit 4)"),
        ((), 5, "NO VERDICT (nothing was measured: 0 skipped)"),
        (("skipped", "skipped"), 0, "NO VERDICT (nothing was measured: 2 skipped)"),
        (("skipped", "passed"), 0, "OK"),
        (("skipped", "failed"), 1, "HIGH (1 failing high check)"),
    ],
)
def test_a_run_that_measured_nothing_is_never_ok(
    checks: tuple[str, ...], exit_status: int, verdict: str
) -> None:
    """An INTERNALERROR used to print "OK — 0 passed": the line cron mails must not say OK."""
    records = tuple(check(f"HLT-0{i + 1}", outcome) for i, outcome in enumerate(checks))
    results = _results(records, exit_status)
    assert results.verdict() == verdict
    assert summary_line(results).startswith(f"ops-check prod: {verdict} — ")
