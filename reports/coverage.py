"""The runbook coverage matrix (coverage.yaml): runbook item → controls, attestation or why not.

Which controls exist is never read from source text: it is the catalogue a run collected
(``Results.catalogue``), so the matrix is judged against what the suite actually declares.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from lms_opscheck.probes.attestations import ITEMS

MATRIX = Path(__file__).with_name("coverage.yaml")
SECTIONS = Path(__file__).with_name("runbook_sections.yaml")
Kind = Literal["automated", "partial", "attestation", "not covered"]
_KEYS = {"item", "controls", "partial", "note", "planned", "attestation", "not_covered"}


class MatrixError(Exception):
    """The matrix names a control or attestation that does not exist, or an entry is malformed."""


@dataclass(frozen=True)
class Entry:
    item: str  # "2.1 Backup Verification"
    controls: tuple[str, ...]  # verify the whole item
    partial: tuple[str, ...]  # verify part of it
    note: str | None  # what a partial entry does not verify
    planned: tuple[str, ...]  # ids other work will add; they count once a check declares them
    attestation: str | None
    not_covered: str | None  # why nothing verifies it

    @property
    def section(self) -> str:
        return self.item.split()[0]


def _yaml(path: Path) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster when present
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


@functools.cache
def _cached_matrix(path: Path) -> tuple[Entry, ...]:
    return tuple(_parse_matrix(path, _yaml(path)))


def load_matrix(path: Path = MATRIX) -> list[Entry]:
    return list(_cached_matrix(path))


def _parse_matrix(path: Path, raw: Any) -> list[Entry]:
    entries = []
    for n, row in enumerate(raw.get("items", []) if isinstance(raw, dict) else []):
        if not isinstance(row, dict) or not isinstance(row.get("item"), str):
            raise MatrixError(f"{path.name}: items[{n}] needs an 'item' (runbook section + name)")
        unknown = set(row) - _KEYS
        if unknown:
            raise MatrixError(f"{path.name}: {row['item']}: unknown key(s) {sorted(unknown)}")
        entry = Entry(
            row["item"],
            tuple(row.get("controls") or ()),
            tuple(row.get("partial") or ()),
            row.get("note"),
            tuple(row.get("planned") or ()),
            row.get("attestation"),
            row.get("not_covered"),
        )
        kinds = [bool(entry.controls), bool(entry.partial), bool(entry.attestation)]
        kinds.append(bool(entry.not_covered))
        if sum(kinds) != 1 and not (entry.planned and sum(kinds) == 1):
            raise MatrixError(
                f"{path.name}: {entry.item}: give exactly one of controls, partial (with a "
                "note), attestation or not_covered (with a why)"
            )
        if entry.partial and not entry.note:
            raise MatrixError(f"{path.name}: {entry.item}: a partial entry needs a note")
        entries.append(entry)
    return entries


def load_sections(path: Path = SECTIONS) -> list[str]:
    raw = _yaml(path)
    return [str(s) for s in (raw or {}).get("sections", [])]


def validate(entries: list[Entry], declared: set[str], sections: Iterable[str] = ()) -> list[str]:
    """Problems: unknown controls or attestations, duplicates, a declared control in no item,
    a runbook section no item covers."""
    problems = []
    seen: set[str] = set()
    mentioned: set[str] = set()
    for entry in entries:
        if entry.item in seen:
            problems.append(f"{entry.item}: listed twice")
        seen.add(entry.item)
        for control in (*entry.controls, *entry.partial):
            mentioned.add(control)
            if control not in declared:
                problems.append(f"{entry.item}: control {control} is declared by no check")
        mentioned.update(entry.planned)
        if entry.attestation and entry.attestation not in ITEMS:
            problems.append(f"{entry.item}: attestation {entry.attestation!r} is not catalogued")
    problems += [f"control {c} appears in no runbook item" for c in sorted(declared - mentioned)]
    for section in sections:
        if not any(e.item == section or e.item.startswith(f"{section} ") for e in entries):
            problems.append(f"runbook section {section!r} has no item in the matrix")
    return problems


@dataclass(frozen=True)
class Row:
    item: str
    kind: Kind
    controls: tuple[str, ...]
    detail: str


def resolve(entry: Entry, declared: set[str]) -> Row:
    """The item's coverage given the controls the suite declares now."""
    planned = [c for c in entry.planned if c in declared]
    if entry.controls or (planned and not entry.partial):
        return Row(entry.item, "automated", (*entry.controls, *planned), "")
    if entry.partial:
        return Row(entry.item, "partial", (*entry.partial, *planned), entry.note or "")
    if entry.attestation:
        return Row(entry.item, "attestation", (), entry.attestation)
    waiting = [c for c in entry.planned if c not in declared]
    why = entry.not_covered or f"planned: {', '.join(waiting)} (no check yet)"
    return Row(entry.item, "not covered", (), why)


def figures(rows: Iterable[Row]) -> dict[str, int]:
    counts = Counter(row.kind for row in rows)
    return {
        kind: counts.get(kind, 0) for kind in ("automated", "partial", "attestation", "not covered")
    }
