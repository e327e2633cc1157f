"""The governance snapshot of a run: waivers and attestations in force that day ."""

from __future__ import annotations

from datetime import date

from lms_opscheck.config.model import Environment
from lms_opscheck.probes.attestations import attestation_ids, attestation_status
from lms_opscheck.probes.waivers import waiver_status

GOVERNANCE_FILE = "governance.json"
GOVERNANCE_SCHEMA = "opscheck.governance/1"


def governance_snapshot(env: Environment, day: date) -> dict[str, object]:
    """The waivers and attestations of ``env`` and their state on ``day``, for the report."""
    waivers = []
    for waiver in env.waivers:
        status = waiver_status(waiver, day)
        entry = waiver.model_dump(mode="json")
        waivers.append({**entry, "state": status.state, "days_left": status.days_left})
    attestations = []
    for item_id in attestation_ids(env.attestations):
        a = attestation_status(item_id, env.attestations, day)
        found = a.attestation.model_dump(mode="json") if a.attestation else None
        attestations.append(
            {
                "id": a.id,
                "title": a.title,
                "state": a.state,
                "due": a.due.isoformat() if a.due else None,
                "reason": a.reason,
                "attestation": found,
            }
        )
    return {
        "schema": GOVERNANCE_SCHEMA,
        "env": env.name,
        "day": day.isoformat(),
        "waivers": waivers,
        "attestations": attestations,
    }
