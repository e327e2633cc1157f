"""The runbook coverage matrix (coverage.yaml): runbook item → controls, attestation or why not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from lms_opscheck.probes.attestations import ITEMS

MATRIX = Path(__file__).with_name("coverage.yaml")
CHECKS_DIR = Path(__file__).resolve().parent.parent / "checks"
_CONTROL = re.compile(r"""control\(\s*["']([A-Z]{2,5}-\d{2,3})["']""")


class MatrixError(Exception):
    """The matrix names a control or attestation that does not exist, or an entry is malformed."""


@dataclass(frozen=True)
class Entry:
    item: str  # "2.1 Backup Verification"
    controls: tuple[str, ...]  # declared by a check today
    planned: tuple[str, ...]  # ids other work will add; automated once a check declares them
    attestation: str | None
    not_covered: str | None  # why nothing verifies it

    @property
    def section(self) -> str:
        return self.item.split()[0]


def declared_controls(checks_dir: Path = CHECKS_DIR) -> set[str]:
    """Every control id a check declares with ``control("ID", ...)`` in checks/*.py."""
    ids: set[str] = set()
    for path in sorted(checks_dir.glob("*.py")):
        ids.update(_CONTROL.findall(path.read_text(encoding="utf-8")))
    return ids


def load_matrix(path: Path = MATRIX) -> list[Entry]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = []
    for n, row in enumerate(raw.get("items", []) if isinstance(raw, dict) else []):
        if not isinstance(row, dict) or not isinstance(row.get("item"), str):
            raise MatrixError(f"{path.name}: items[{n}] needs an 'item' (runbook section + name)")
        unknown = set(row) - {"item", "controls", "planned", "attestation", "not_covered"}
        if unknown:
            raise MatrixError(f"{path.name}: {row['item']}: unknown key(s) {sorted(unknown)}")
        entry = Entry(
            row["item"],
            tuple(row.get("controls") or ()),
            tuple(row.get("planned") or ()),
            row.get("attestation"),
            row.get("not_covered"),
        )
        covered = entry.controls or entry.planned or entry.attestation
        if bool(covered) == bool(entry.not_covered):
            raise MatrixError(
                f"{path.name}: {entry.item}: give controls/planned/attestation, "
                "or not_covered with a why — exactly one of the two"
            )
        entries.append(entry)
    return entries


def validate(entries: list[Entry], declared: set[str]) -> list[str]:
    """Problems: controls no check declares, attestations not in the catalogue, duplicates."""
    problems = []
    seen: set[str] = set()
    for entry in entries:
        if entry.item in seen:
            problems.append(f"{entry.item}: listed twice")
        seen.add(entry.item)
        for control in entry.controls:
            if control not in declared:
                problems.append(f"{entry.item}: control {control} is declared by no check")
        if entry.attestation and entry.attestation not in ITEMS:
            problems.append(f"{entry.item}: attestation {entry.attestation!r} is not catalogued")
    return problems


def resolve(entry: Entry, declared: set[str]) -> tuple[list[str], list[str]]:
    """(automated ids, still-planned ids): a planned id counts once some check declares it."""
    automated = [c for c in (*entry.controls, *entry.planned) if c in declared]
    return automated, [c for c in entry.planned if c not in declared]
