"""Performance: last week's k6 load test ran, passed its thresholds, met the SLO with headroom."""

from __future__ import annotations

import pytest

from lms_opscheck.config.durations import format_duration as fmt
from lms_opscheck.config.levels import percent
from lms_opscheck.config.model import Policy
from lms_opscheck.config.performance import K6Summaries
from lms_opscheck.fixtures.environment import require
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.probes.k6 import K6Summary, Summaries, p95_trend

RUNBOOK = "2.2 Performance Review"
REMEDIATION = (
    "Run the weekly k6 load test and export its summary (--summary-export or handleSummary)."
)


def _newest(summaries: Summaries, newest: K6Summary | None) -> K6Summary:
    __tracebackhide__ = True
    assert newest is not None, (
        f"no k6 summary matching {summaries.pattern!r} in {summaries.where}: the weekly load "
        "test did not run or its summary was not kept"
    )
    return newest


@pytest.mark.weekly
@pytest.mark.control("PRF-01", severity="high", runbook=RUNBOOK, remediation=REMEDIATION)
def test_newest_k6_summary_is_recent(
    k6_summaries: Summaries,
    newest_k6: K6Summary | None,
    k6_location: K6Summaries,
    evidence: EvidenceLog,
) -> None:
    """The newest k6 summary is at most max_age (7 days) old."""
    evidence.record("summaries", len(k6_summaries.files), target=k6_summaries.where)
    newest = _newest(k6_summaries, newest_k6)
    age = k6_summaries.measured_at - newest.taken_at
    evidence.record("newest", newest.name, target=k6_summaries.where)
    evidence.record("age", age, threshold=f"<= {fmt(k6_location.max_age)}", target=newest.name)
    assert age <= k6_location.max_age, (
        f"k6 summary {newest} in {k6_summaries.where} is {fmt(age)} old; the load test must run "
        f"at least every {fmt(k6_location.max_age)}"
    )


@pytest.mark.weekly
@pytest.mark.control(
    "PRF-02",
    severity="high",
    runbook=RUNBOOK,
    remediation="Read the crossed thresholds in the k6 output; fix the regression, re-run.",
)
def test_newest_k6_summary_passed_its_thresholds(
    k6_summaries: Summaries, newest_k6: K6Summary | None, evidence: EvidenceLog
) -> None:
    """Every threshold of the newest k6 summary passed (and it declares at least one)."""
    newest = _newest(k6_summaries, newest_k6)
    crossed = newest.crossed
    evidence.record("thresholds", len(newest.thresholds), threshold=">= 1", target=newest.name)
    evidence.record("crossed", [str(t) for t in crossed], threshold="none", target=newest.name)
    assert newest.thresholds, (
        f"k6 summary {newest} ({newest.shape}) declares no threshold: the test gates nothing"
    )
    assert not crossed, (
        f"{len(crossed)} of {len(newest.thresholds)} threshold(s) crossed in k6 summary "
        f"{newest}: {'; '.join(str(t) for t in crossed[:5])}"
    )


@pytest.mark.weekly
@pytest.mark.control(
    "PRF-03",
    severity="high",
    runbook=RUNBOOK,
    remediation="Profile the slow or failing endpoints of the load test before the next release.",
)
def test_newest_k6_summary_meets_the_slo(
    k6_summaries: Summaries, newest_k6: K6Summary | None, policy: Policy, evidence: EvidenceLog
) -> None:
    """p95 (and p99 when exported) of http_req_duration and http_req_failed meet the SLO."""
    newest, slo = _newest(k6_summaries, newest_k6), policy.slo
    p95, p99, failed = newest.p95, newest.p99, newest.error_rate
    evidence.record(
        "p95", p95 or "absent", threshold=f"< {fmt(slo.latency_p95)}", target=newest.name
    )
    evidence.record(
        "p99", p99 or "not exported (summaryTrendStats)", threshold=f"< {fmt(slo.latency_p99)}"
    )
    shown_failed = failed if failed is not None else "absent"
    evidence.record(
        "error_rate",
        shown_failed * 100 if isinstance(shown_failed, float) else shown_failed,
        unit="%",
        threshold=f"< {percent(slo.error_rate)}",
    )
    assert p95 is not None and failed is not None, (
        f"k6 summary {newest} has no p(95) of http_req_duration or no http_req_failed rate: "
        "it did not load the HTTP API"
    )
    problems = []
    if p95 >= slo.latency_p95:
        problems.append(f"p95 {fmt(p95)} (SLO < {fmt(slo.latency_p95)})")
    if p99 is not None and p99 >= slo.latency_p99:
        problems.append(f"p99 {fmt(p99)} (SLO < {fmt(slo.latency_p99)})")
    if failed >= slo.error_rate:
        problems.append(f"error rate {percent(failed)} (SLO < {percent(slo.error_rate)})")
    assert not problems, f"k6 summary {newest} misses the SLO: {'; '.join(problems)}"


@pytest.mark.weekly
@pytest.mark.control(
    "PRF-04",
    severity="medium",
    runbook=RUNBOOK,
    remediation="Scale out (runbook 4.3) or optimise until the test sustains the peak plus margin.",
)
def test_load_test_sustained_the_peak_with_headroom(
    k6_summaries: Summaries,
    newest_k6: K6Summary | None,
    k6_location: K6Summaries,
    pytestconfig: pytest.Config,
    evidence: EvidenceLog,
) -> None:
    """The load test sustained the expected peak request rate plus the headroom margin."""
    peak: float = require(pytestconfig, "artifacts.k6.expected_peak_rps")
    newest, margin = _newest(k6_summaries, newest_k6), k6_location.headroom_margin
    needed = peak * (1 + margin)
    rate = newest.rate
    evidence.record(
        "achieved_rps", rate if rate is not None else "absent", threshold=f">= {needed:g}"
    )
    evidence.record("expected_peak_rps", peak, target=newest.name)
    if rate is not None:
        evidence.record(
            "headroom", (rate / peak - 1) * 100, unit="%", threshold=f">= {percent(margin)}"
        )
    assert rate is not None, f"k6 summary {newest} has no http_reqs rate"
    assert rate >= needed, (
        f"k6 summary {newest} sustained {rate:.1f} requests/s; the expected peak is {peak:g}/s, "
        f"so with a {percent(margin)} margin at least {needed:.1f}/s is needed "
        f"(headroom {percent(max(rate / peak - 1, -1))})"
    )


@pytest.mark.weekly
@pytest.mark.control(
    "PRF-05",
    severity="medium",
    runbook=RUNBOOK,
    remediation="Compare the release notes of the regressed week; profile the slower endpoints.",
)
def test_p95_did_not_regress_against_previous_summaries(
    k6_summaries: Summaries,
    newest_k6: K6Summary | None,
    previous_k6: tuple[list[K6Summary], list[str]],
    k6_location: K6Summaries,
    evidence: EvidenceLog,
) -> None:
    """The newest p95 is within the tolerance of the median p95 of the previous summaries."""
    newest = _newest(k6_summaries, newest_k6)
    previous, unreadable = previous_k6
    tolerance, floor = k6_location.trend_tolerance, k6_location.trend_min_increase
    evidence.record("previous", [s.name for s in previous], target=k6_summaries.where)
    evidence.record("unreadable", unreadable, target=k6_summaries.where)
    trend = p95_trend(newest, previous)
    if trend is None:
        pytest.skip(
            f"no previous k6 summary with a p95 in {k6_summaries.where} to compare {newest} "
            f"with ({len(previous)} previous, {len(unreadable)} unreadable): the trend starts "
            "with the second summary"
        )
    evidence.record("p95", trend.newest, target=newest.name)
    evidence.record("baseline_p95", trend.baseline, target=k6_summaries.where)
    evidence.record(
        "ratio",
        trend.ratio,
        unit="ratio",
        threshold=f"<= {1 + tolerance:g} or within +{fmt(floor)}",
    )
    assert not trend.regressed(tolerance, floor), (
        f"k6 summary {newest}: p95 {fmt(trend.newest)} is {percent(trend.ratio - 1)} "
        f"(+{fmt(trend.newest - trend.baseline)}) above the median {fmt(trend.baseline)} of the "
        f"{len(trend.compared)} previous summaries; tolerance is {percent(tolerance)} and "
        f"{fmt(floor)}"
    )
