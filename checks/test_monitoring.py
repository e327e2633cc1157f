"""Monitoring: alerts, SLOs and scrape targets in Prometheus; Sentry issues; Grafana (2.1).

A query that returns no series, or NaN because nothing was counted, is "no data": the check
could not measure (error), it never passes.
"""

from __future__ import annotations

import math
import warnings
from datetime import timedelta

import pytest

from lms_opscheck.config.durations import format_duration as fmt
from lms_opscheck.config.levels import percent
from lms_opscheck.config.model import Policy
from lms_opscheck.config.monitoring import PrometheusTarget
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.probes.nodata import NoData
from lms_opscheck.probes.observability import (
    DatasourceHealth,
    GrafanaHealth,
    NewIssues,
    examined,
)
from lms_opscheck.probes.prometheus import (
    Alert,
    Rules,
    Sample,
    Target,
    critical_firing,
)

RUNBOOK = "2.1 Monitoring Review"


class MonitoringWarning(UserWarning):
    """Something to review that is not (yet) out of policy: a non-critical alert firing."""


@pytest.mark.daily
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "MON-01",
    severity="critical",
    runbook=RUNBOOK,
    remediation="Follow the firing alert's runbook; runbook 3 for API or database outages.",
)
def test_no_critical_alert_is_firing(
    prometheus_alerts: tuple[list[Alert], Rules],
    prometheus_config: PrometheusTarget,
    evidence: EvidenceLog,
) -> None:
    """No alert labelled critical is firing in Prometheus (with alerting rules loaded)."""
    alerts, rules = prometheus_alerts
    where, label = prometheus_config.url, prometheus_config.critical_label
    values = prometheus_config.critical_values
    critical = critical_firing(alerts, label, values)
    others = [a for a in alerts if a.state == "firing" and a not in critical]
    evidence.record("alerting_rules", rules.alerting, threshold=">= 1", target=where)
    evidence.record("critical_firing", [str(a) for a in critical], threshold="none", target=where)
    evidence.record("other_firing", [str(a) for a in others], target=where)
    if rules.alerting == 0:
        raise NoData(where, "no alerting rule is loaded: 'no critical alert firing' means nothing")
    for alert in others:
        warnings.warn(MonitoringWarning(f"{where}: {alert} is firing"), stacklevel=1)
    assert not critical, (
        f"{len(critical)} critical alert(s) firing in {where}: "
        f"{'; '.join(str(a) for a in critical[:5])}; none may fire ({label} in {values})"
    )


def _slo_evidence(evidence: EvidenceLog, name: str, sample: Sample, threshold: str) -> None:
    # shown in percent, exported as a ratio; the target is the PromQL that measured it
    evidence.record(name, sample.value * 100, unit="%", threshold=threshold, target=sample.query)


@pytest.mark.daily
@pytest.mark.control(
    "MON-02",
    severity="high",
    runbook=RUNBOOK,
    remediation="Find the 5xx answers in the window (logs, Sentry); the error budget is spent.",
)
def test_availability_meets_the_slo(
    slo_availability: Sample,
    prometheus_config: PrometheusTarget,
    policy: Policy,
    evidence: EvidenceLog,
) -> None:
    """The share of requests not answered 5xx over the availability window meets the SLO."""
    slo, window = policy.slo.availability, prometheus_config.availability_window
    _slo_evidence(evidence, "availability", slo_availability, f">= {percent(slo)}")
    evidence.record("window", window, target=prometheus_config.url)
    assert slo_availability.value >= slo, (
        f"{prometheus_config.url}: availability of the LMS over the last {fmt(window)} is "
        f"{percent(slo_availability.value)}; the SLO is {percent(slo)}"
    )


@pytest.mark.daily
@pytest.mark.control(
    "MON-03",
    severity="high",
    runbook=RUNBOOK,
    remediation="Find the slow endpoints (p95 by path), database load, recent deploys.",
)
def test_p95_latency_meets_the_slo(
    slo_latency_p95: Sample,
    prometheus_config: PrometheusTarget,
    policy: Policy,
    evidence: EvidenceLog,
) -> None:
    """The 95th percentile of request duration over the window is below the latency SLO."""
    slo, window, seconds = policy.slo.latency_p95, prometheus_config.window, slo_latency_p95.value
    shown = fmt(timedelta(seconds=seconds)) if math.isfinite(seconds) else "beyond every bucket"
    evidence.record(
        "latency_p95",
        timedelta(seconds=seconds) if math.isfinite(seconds) else shown,
        threshold=f"< {fmt(slo)}",
        target=slo_latency_p95.query,
    )
    evidence.record("window", window, target=prometheus_config.url)
    assert seconds < slo.total_seconds(), (
        f"{prometheus_config.url}: p95 latency of the LMS over the last {fmt(window)} is "
        f"{shown}; the SLO is < {fmt(slo)}"
    )


@pytest.mark.daily
@pytest.mark.control(
    "MON-04",
    severity="high",
    runbook=RUNBOOK,
    remediation="Find the 5xx answers by path (logs, Sentry); roll back a bad deploy.",
)
def test_error_rate_meets_the_slo(
    slo_error_rate: Sample,
    prometheus_config: PrometheusTarget,
    policy: Policy,
    evidence: EvidenceLog,
) -> None:
    """The share of requests answered 5xx over the window is below the error-rate SLO."""
    slo, window = policy.slo.error_rate, prometheus_config.window
    _slo_evidence(evidence, "error_rate", slo_error_rate, f"< {percent(slo)}")
    evidence.record("window", window, target=prometheus_config.url)
    assert slo_error_rate.value < slo, (
        f"{prometheus_config.url}: error rate of the LMS over the last {fmt(window)} is "
        f"{percent(slo_error_rate.value)}; the SLO is < {percent(slo)}"
    )


@pytest.mark.daily
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "MON-05",
    severity="high",
    runbook=RUNBOOK,
    remediation="Check the down target's /metrics from the Prometheus host; restart the replica.",
)
def test_every_lms_scrape_target_is_up(
    scrape_targets: tuple[list[Target], str],
    prometheus_config: PrometheusTarget,
    evidence: EvidenceLog,
) -> None:
    """Every scrape target of the LMS's jobs is up in Prometheus."""
    found, where = scrape_targets
    jobs = ", ".join(prometheus_config.jobs)
    down = [t for t in found if t.health != "up"]
    evidence.record("targets", len(found), threshold=">= 1", target=where)
    evidence.record("down", [str(t) for t in down], threshold="none", target=where)
    if not found:
        raise NoData(where, f"no data: no active scrape target of job(s) {jobs}")
    assert not down, (
        f"{len(down)} of {len(found)} scrape target(s) of {jobs} not up in {where}: "
        f"{'; '.join(str(t) for t in down[:5])}"
    )


@pytest.mark.daily
@pytest.mark.launch
@pytest.mark.control(
    "MON-09",
    severity="high",
    runbook="7.1 Pre-Launch Checklist",
    remediation="Load the LMS's alert rules and point Prometheus at Alertmanager (alerting:).",
)
def test_alerting_is_enabled(
    alerting_setup: tuple[Rules, list[str]],
    prometheus_config: PrometheusTarget,
    evidence: EvidenceLog,
) -> None:
    """Prometheus evaluates alerting rules without errors and sends to Alertmanager."""
    rules, managers = alerting_setup
    where, needed = prometheus_config.url, prometheus_config.min_alertmanagers
    evidence.record("alerting_rules", rules.alerting, threshold=">= 1", target=where)
    evidence.record("broken_rules", list(rules.broken), threshold="none", target=where)
    evidence.record("alertmanagers", managers, threshold=f">= {needed}", target=where)
    assert rules.alerting >= 1, f"{where} has no alerting rule loaded ({rules.groups} groups)"
    assert not rules.broken, (
        f"{len(rules.broken)} rule(s) in {where} fail to evaluate: {'; '.join(rules.broken[:3])}"
    )
    assert len(managers) >= needed, (
        f"{where} sends alerts to {len(managers)} Alertmanager(s); at least {needed} expected"
    )


@pytest.mark.daily
@pytest.mark.control(
    "MON-06",
    severity="medium",
    runbook=RUNBOOK,
    remediation="Triage the new Sentry issues: assign, fix or resolve each one.",
)
def test_no_new_unresolved_sentry_issue(sentry_issues: NewIssues, evidence: EvidenceLog) -> None:
    """No more new unresolved Sentry issues first seen in the window than allowed (default 0)."""
    issues, where = sentry_issues.issues, sentry_issues.where
    allowed = sentry_issues.allowed
    count = f"{len(issues)}{'' if sentry_issues.complete else '+'}"
    evidence.record("new_unresolved", len(issues), threshold=f"<= {allowed}", target=where)
    evidence.record("issues", [str(i) for i in issues], target=where)
    assert len(issues) <= allowed, (
        f"{count} new unresolved Sentry issue(s) in {', '.join(sentry_issues.projects)} first "
        f"seen in the last {fmt(sentry_issues.window)} ({where}): "
        f"{'; '.join(str(i) for i in issues[:3])}; at most {allowed} allowed"
    )


@pytest.mark.daily
@pytest.mark.control(
    "MON-07",
    severity="medium",
    runbook=RUNBOOK,
    remediation="Check Grafana's own database and logs; dashboards are the daily review's tool.",
)
def test_grafana_is_healthy(grafana_health: GrafanaHealth, evidence: EvidenceLog) -> None:
    """Grafana answers GET /api/health with 200 and its database ok."""
    health = grafana_health
    evidence.record("status", health.status, threshold="200", target=health.url)
    evidence.record("database", health.database, threshold="ok", target=health.url)
    evidence.record("version", health.version, target=health.url)
    assert health.status == 200 and health.database == "ok", (
        f"{health.url} answered {health.status} with database {health.database!r}; "
        "expected 200 and database 'ok'"
    )


@pytest.mark.daily
@pytest.mark.control(
    "MON-08",
    severity="medium",
    runbook=RUNBOOK,
    remediation="Fix the data source's URL or credentials in Grafana: its dashboards are blank.",
)
def test_every_grafana_datasource_is_healthy(
    grafana_datasources: list[DatasourceHealth], evidence: EvidenceLog
) -> None:
    """Every Grafana data source (or each configured one) passes its health check."""
    checked = examined(grafana_datasources)
    failing = [s for s in checked if s.status != "OK"]
    unsupported = [s.name for s in grafana_datasources if s not in checked]
    evidence.record("datasources", len(checked), threshold=">= 1")
    evidence.record("failing", [str(s) for s in failing], threshold="none")
    evidence.record("without_health_check", unsupported)
    if not checked:
        where = grafana_datasources[0].url.split("/api/")[0] if grafana_datasources else "Grafana"
        raise NoData(where, f"no data source has a health check ({', '.join(unsupported)})")
    assert not failing, (
        f"{len(failing)} of {len(checked)} Grafana data source(s) failing: "
        f"{'; '.join(str(s) for s in failing[:5])}"
    )
