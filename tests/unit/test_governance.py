"""Governance logic: relative days, two-level thresholds, waiver and attestation states."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from lms_opscheck.config import ConfigError, load_environment
from lms_opscheck.config.governance import GOVERNANCE_POLICY, Attestation, Waiver, parse_day
from lms_opscheck.probes.attestations import (
    CATALOGUE,
    attestation_ids,
    attestation_status,
    effective_cadence,
)
from lms_opscheck.probes.thresholds import Level, TwoLevel
from lms_opscheck.probes.waivers import overlong, waiver_in_force, waiver_status

TODAY = date(2026, 11, 28)


def waiver(expires: str, control: str = "HLT-01") -> Waiver:
    return Waiver(control=control, reason="r", ticket="OPS-1", approver="lead", expires=expires)


def attest(item: str, at: str, **extra: object) -> Attestation:
    return Attestation.model_validate(
        {"id": item, "by": "Ann", "at": at, "evidence": "https://x.example/1", **extra}
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20", date(2026, 11, 20)),
        ("today", TODAY),
        ("3d ago", date(2026, 11, 25)),
        ("in 60d", date(2027, 1, 27)),
        ("2w ago", date(2026, 11, 14)),
    ],
)
def test_days_are_calendar_or_relative(text: str, expected: date) -> None:
    assert parse_day(text, today=TODAY) == expected


def test_a_malformed_day_is_rejected_with_the_accepted_forms() -> None:
    with pytest.raises(ValidationError, match="2026-11-20, today, 3d ago or in 60d"):
        waiver("next tuesday")


def test_remaining_time_thresholds_warn_then_go_critical() -> None:
    bounds = TwoLevel(warning=7, critical=0)
    assert [bounds.level(v) for v in (30, 7, 1, 0, -3)] == [
        Level.OK,
        Level.WARNING,
        Level.WARNING,
        Level.CRITICAL,
        Level.CRITICAL,
    ]
    assert bounds.describe(Level.WARNING) == "<= 7"


def test_ceiling_thresholds_and_misordered_bounds() -> None:
    latency = TwoLevel(
        warning=timedelta(seconds=1), critical=timedelta(seconds=3), lower_is_worse=False
    )
    assert latency.level(timedelta(seconds=2)) is Level.WARNING
    assert latency.level(timedelta(seconds=5)) is Level.CRITICAL
    with pytest.raises(ValueError, match="beyond critical"):
        TwoLevel(warning=0, critical=7)


def test_waiver_is_in_force_through_its_expiry_day_warns_before_and_expires_after() -> None:
    assert waiver_status(waiver("2027-01-31"), TODAY).state == "in force"
    assert waiver_status(waiver("2026-12-02"), TODAY).state == "expiring"
    assert waiver_status(waiver("2026-11-28"), TODAY).state == "expiring"
    expired = waiver_status(waiver("2026-11-20"), TODAY)
    assert expired.level is Level.CRITICAL
    assert "HLT-01 (OPS-1, approved by lead) expired 2026-11-20 (8d ago)" in str(expired)


def test_only_a_waiver_in_force_for_that_control_applies() -> None:
    waivers = [waiver("2026-11-20"), waiver("2026-12-31", "HLT-02"), waiver("2026-12-10")]
    assert waiver_in_force(waivers, "HLT-01", TODAY) == waivers[2]
    assert waiver_in_force(waivers[:1], "HLT-01", TODAY) is None


def test_missing_attestation_is_critical_and_named() -> None:
    status = attestation_status("uat-signoff", [], TODAY)
    assert status.state == "missing" and status.level is Level.CRITICAL
    assert "no attestation of 'uat-signoff' (UAT sign-off obtained)" in status.reason


def test_attestation_goes_out_of_date_after_its_cadence() -> None:
    stale = attestation_status("runbook-review", [attest("runbook-review", "2026-06-01")], TODAY)
    assert stale.state == "out of date"
    assert "attested by Ann on 2026-06-01 (https://x.example/1) is out of date" in stale.reason
    assert "due 2026-09-01 (88d ago), every 92d" in stale.reason
    soon = attestation_status("runbook-review", [attest("runbook-review", "2026-08-30")], TODAY)
    assert soon.state == "due soon" and soon.due == date(2026, 11, 30)
    fresh = attestation_status("runbook-review", [attest("runbook-review", "10d ago")], TODAY)
    assert fresh.state == "current"


def test_latest_attestation_wins_and_cadence_can_be_overridden() -> None:
    items = [attest("on-call-schedule", "2026-01-01"), attest("on-call-schedule", "2026-11-20")]
    assert attestation_status("on-call-schedule", items, TODAY).state == "current"
    weekly = [attest("on-call-schedule", "2026-11-10", cadence="7d")]
    assert attestation_status("on-call-schedule", weekly, TODAY).state == "out of date"


def test_one_off_items_never_expire_but_future_dates_are_refused() -> None:
    assert attestation_status(
        "uat-signoff", [attest("uat-signoff", "2024-01-01")], TODAY
    ).state == ("current")
    future = attestation_status("uat-signoff", [attest("uat-signoff", "2027-01-01")], TODAY)
    assert future.level is Level.CRITICAL and "dated in the future" in future.reason


def test_catalogue_items_come_first_then_extra_attestations() -> None:
    ids = attestation_ids([attest("dpia", "today"), attest("uat-signoff", "today")])
    assert ids == [item.id for item in CATALOGUE] + ["dpia"]


def test_evidence_must_be_a_link() -> None:
    with pytest.raises(ValidationError, match="evidence"):
        attest("uat-signoff", "today", evidence="trust me")


def test_a_longer_environment_cadence_never_extends_the_catalogues() -> None:
    week, month = timedelta(days=7), timedelta(days=31)
    assert effective_cadence(None, month) == (month, None)
    assert effective_cadence(week, month) == (week, None)
    assert effective_cadence(timedelta(weeks=1000), month) == (month, timedelta(weeks=1000))
    assert effective_cadence(week, None) == (week, None)  # a one-off item renewed weekly
    lax = [attest("staff-training", "2026-09-01", cadence="1000w")]
    status = attestation_status("staff-training", lax, TODAY)
    assert status.state == "out of date", status.reason
    assert "(cadence 7000d ignored: longer than the catalogue's 31d)" in status.reason
    assert "due 2026-10-02 (57d ago), every 31d" in status.reason


def test_a_waiver_may_last_at_most_the_maximum_length() -> None:
    assert GOVERNANCE_POLICY.max_waiver_length == timedelta(days=90)
    assert overlong(waiver("2027-02-26"), TODAY, timedelta(days=90)) is None  # exactly 90d
    reason = overlong(waiver("2027-02-27"), TODAY, timedelta(days=90))
    assert reason == (
        "waiver of HLT-01 (OPS-1, approved by lead) expires 2027-02-27, 91d after 2026-11-28; "
        "the maximum waiver length is 90d"
    )


@pytest.mark.parametrize("control", ["GOV-01", "GOV-02", "GOV-03"])
def test_governance_controls_cannot_be_waived(control: str) -> None:
    with pytest.raises(ValidationError, match=f"{control} cannot be waived"):
        waiver("2026-12-10", control)


def test_a_waiver_of_a_governance_control_is_one_config_error_naming_the_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(
        "waivers:\n  - {control: GOV-01, reason: r, ticket: OPS-1, approver: a, expires: in 9d}\n"
    )
    with pytest.raises(ConfigError) as raised:
        load_environment(str(path))
    message = str(raised.value)
    assert "\n" not in message and "env.yaml" in message
    assert "waivers.0.control: " in message and "GOV-01 cannot be waived" in message
