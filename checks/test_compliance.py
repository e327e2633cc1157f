"""Compliance: data is kept no longer than its retention period; every function has two owners.

Backup and drill-log retention are BKP-06, BKP-07 and DRL-05; documents reviewed within their
cadence are the attestations of GOV-02 (all carry the monthly cadence): the coverage matrix maps
them to the compliance review rather than duplicating them here.
"""

from __future__ import annotations

import pytest

from lms_opscheck.config.durations import format_duration as fmt
from lms_opscheck.config.model import Environment
from lms_opscheck.fixtures.environment import require
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.probes.retention import RetentionFinding


@pytest.mark.monthly
@pytest.mark.control(
    "CMP-01",
    severity="high",
    runbook="2.3 Compliance Review",
    remediation="Run (or fix) the retention job for the table; delete or anonymise old rows.",
)
def test_no_row_is_kept_beyond_its_retention_period(
    retention: RetentionFinding, evidence: EvidenceLog
) -> None:
    """No row of a declared table is older than its rule's maximum age (read-only SQL)."""
    rule, where = retention.rule, retention.where
    oldest = retention.oldest_age
    evidence.record("offending_rows", retention.offending, threshold="0", target=where)
    evidence.record("oldest", oldest if oldest is not None else "no rows", target=where)
    evidence.record("max_age", rule.max_age, target=where)
    if not retention.has_rows:
        pytest.skip(
            f"{where} holds no row with {rule.column} set: nothing to retain, nothing examined"
        )
    assert retention.offending == 0, (
        f"{where}: {retention.offending} row(s) older than the retention period "
        f"{fmt(rule.max_age)}; the oldest is {fmt(oldest or rule.max_age)} old"
    )


@pytest.mark.monthly
@pytest.mark.control(
    "CMP-02",
    severity="medium",
    runbook="10.2 Cross-Training Requirements",
    remediation="Train a second person for the function and add them to ownership.functions.",
)
def test_every_critical_function_has_enough_owners(
    environment: Environment, pytestconfig: pytest.Config, evidence: EvidenceLog
) -> None:
    """Every critical function has at least two (min_owners) different people able to do it."""
    functions = require(pytestconfig, "ownership.functions")
    minimum = environment.ownership.min_owners
    critical = {name: f for name, f in functions.items() if f.critical}
    owners = {
        name: sorted({o.casefold(): o for o in f.owners}.values()) for name, f in critical.items()
    }
    evidence.record("critical_functions", len(critical), threshold=">= 1", target=environment.name)
    for name, people in owners.items():
        evidence.record(f"owners {name}", people, threshold=f">= {minimum}")
    assert critical, (
        f"ownership.functions of {environment.name} declares no critical function: "
        "there is nothing whose cross-training could be verified"
    )
    short = {name: people for name, people in owners.items() if len(people) < minimum}
    assert not short, (
        f"{len(short)} critical function(s) in {environment.name} with fewer than {minimum} "
        "owners: " + "; ".join(f"{n}: {', '.join(p) or 'nobody'}" for n, p in short.items())
    )
