"""Governance: waivers are in force and the runbook's manual items are attested (2.3, 7.1, 9.1)."""

from __future__ import annotations

import warnings
from datetime import date

import pytest

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.governance import GovernancePolicy
from lms_opscheck.config.model import Environment
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.probes.attestations import CATALOGUE, ITEMS, attestation_status
from lms_opscheck.probes.thresholds import Level
from lms_opscheck.probes.waivers import FINDING_CONTROLS, overlong, waiver_status


class GovernanceWarning(UserWarning):
    """A waiver or an attestation falls due soon: renew it before the check fails."""


@pytest.mark.weekly
@pytest.mark.control(
    "GOV-01",
    severity="high",
    runbook="2.3 Compliance Review",
    remediation="Fix the waived control, or renew the waiver with a new approval and ticket.",
)
def test_no_waiver_has_expired(
    environment: Environment,
    governance_day: date,
    governance_policy: GovernancePolicy,
    evidence: EvidenceLog,
) -> None:
    """Every waiver is still in force and expires within the maximum waiver length."""
    statuses = [waiver_status(w, governance_day) for w in environment.waivers]
    longest = governance_policy.max_waiver_length
    for status in statuses:
        evidence.record(
            status.waiver.subject,
            status.state,
            threshold=f"expires {status.waiver.expires.isoformat()}",
            target=status.waiver.ticket,
        )
    for status in statuses:
        if status.level is Level.WARNING:
            warnings.warn(GovernanceWarning(str(status)), stacklevel=1)
    expired = [str(s) for s in statuses if s.level is Level.CRITICAL]
    too_long = [r for w in environment.waivers if (r := overlong(w, governance_day, longest))]
    evidence.record("too_long", len(too_long), threshold=f"none over {format_duration(longest)}")
    assert not expired, f"{len(expired)} expired in {environment.name}: " + "; ".join(expired)
    assert not too_long, (
        f"{len(too_long)} waiver(s) in {environment.name} last too long: " + "; ".join(too_long)
    )


@pytest.mark.weekly
@pytest.mark.control(
    "GOV-03",
    severity="medium",
    runbook="2.3 Compliance Review",
    remediation="Correct the waiver's control id, or remove the waiver of a control that is gone.",
)
def test_every_waiver_names_a_declared_control(
    environment: Environment, declared_controls: frozenset[str], evidence: EvidenceLog
) -> None:
    """A waiver waives a control a check declares: a mistyped id would waive nothing, silently."""
    unknown = sorted({w.control for w in environment.waivers} - declared_controls)
    # A finding waiver of a control that reads no findings would waive nothing, silently.
    stray = sorted(
        w.subject
        for w in environment.waivers
        if w.finding is not None and w.control not in FINDING_CONTROLS
    )
    evidence.record("waivers", len(environment.waivers), target=environment.name)
    evidence.record("unknown_controls", unknown, threshold="none")
    evidence.record("findings_on_other_controls", stray, threshold="none")
    assert not unknown, (
        f"{len(unknown)} waiver(s) in {environment.name} name a control no check declares: "
        f"{', '.join(unknown)} ({len(declared_controls)} controls declared)"
    )
    assert not stray, (
        f"{len(stray)} waiver(s) in {environment.name} name a finding of a control that has no "
        f"findings: {', '.join(stray)}; per-finding waivers apply to "
        f"{', '.join(sorted(FINDING_CONTROLS))}"
    )


ATTESTED = [
    pytest.param(item.id, id=item.id, marks=[pytest.mark.launch] if item.launch else [])
    for item in CATALOGUE
]


@pytest.mark.weekly
@pytest.mark.monthly
@pytest.mark.control(
    "GOV-02",
    severity="high",
    runbook="7.1 Pre-Launch Checklist",
    remediation="Do the manual item, then add or renew its attestation (who, when, evidence link).",
)
@pytest.mark.parametrize("item_id", ATTESTED)
def test_manual_item_is_attested_and_current(
    item_id: str, environment: Environment, governance_day: date, evidence: EvidenceLog
) -> None:
    """Each manual runbook item is attested by a named person, with evidence, within its cadence."""
    status = attestation_status(item_id, environment.attestations, governance_day)
    item = ITEMS[item_id]
    attested = status.attestation
    evidence.record("state", status.state, target=f"runbook {item.runbook} {item.title}")
    if attested is not None:
        evidence.record("attested_by", attested.by)
        evidence.record("attested_on", attested.at.isoformat(), target=attested.evidence)
    if status.due is not None:
        evidence.record("due", status.due.isoformat(), threshold=f">= {governance_day}")
    if status.level is Level.WARNING:
        warnings.warn(GovernanceWarning(f"{item_id}: {status.reason}"), stacklevel=1)
    assert status.level is not Level.CRITICAL, f"{environment.name}: {status.reason}"
