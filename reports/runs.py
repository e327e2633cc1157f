"""Run folders read back for reports: results.json (the records) and governance.json."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lms_opscheck.record import CheckRecord, RecordError, Results, parse_iso, read_results


class RunFolderError(Exception):
    """A run folder that cannot be read: names the folder and what is missing."""


@dataclass(frozen=True)
class Run:
    path: Path
    results: Results
    governance: dict[str, Any] | None

    @property
    def id(self) -> str:
        return self.results.run.id

    @property
    def env(self) -> str:
        return self.results.run.env

    @property
    def identity(self) -> str:
        return self.results.run.env_identity

    @property
    def started_at(self) -> datetime:
        return parse_iso(self.results.run.started_at)

    @property
    def checks(self) -> tuple[CheckRecord, ...]:
        return self.results.checks

    @property
    def measured(self) -> bool:
        """Whether the run measured anything (a run of only skips is no evidence of anything)."""
        return any(c.outcome != "skipped" for c in self.checks)


def load_run(path: Path) -> Run:
    """The run in ``path``; anything unreadable or malformed is a RunFolderError naming the file."""
    results_file = path / "results.json"
    if not results_file.is_file():
        raise RunFolderError(f"{path}: no results.json; is it a run folder?")
    try:
        results = read_results(results_file)
    except RecordError as exc:
        raise RunFolderError(str(exc)) from None
    governance_file = path / "governance.json"
    governance = _read_json(governance_file) if governance_file.is_file() else None
    return Run(path, results, governance)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunFolderError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path}: expected a JSON object")
    return data


@dataclass(frozen=True)
class History:
    runs: list[Run]  # of the wanted environments, oldest first
    other_environments: int  # run folders found beside them that belong to another environment
    unreadable: int


def discover_history(given: list[Run], since: datetime) -> History:
    """Run folders beside the given ones (``out/<env>/*``) of the same environment identity,
    started since ``since``; folders of another environment that merely share the name and
    half-written folders are counted, never merged."""
    seen = {r.path.resolve() for r in given}
    identities = {r.identity for r in given}
    found: list[Run] = []
    others = unreadable = 0
    for parent in {r.path.resolve().parent for r in given}:
        for candidate in sorted(parent.iterdir()):
            if candidate.is_symlink() or not candidate.is_dir() or candidate.resolve() in seen:
                continue
            if candidate.stat().st_mtime < since.timestamp():
                continue
            try:
                run = load_run(candidate)
            except (RunFolderError, OSError):
                unreadable += 1
                continue
            if run.identity not in identities:
                others += 1
            elif run.started_at >= since:
                found.append(run)
    return History(sorted(found, key=lambda r: r.started_at), others, unreadable)


def runs_under(root: Path, since: datetime) -> list[Run]:
    """Every readable run folder below ``root`` (``root/<env>/<run>``, shared storage of many
    environments) started since ``since``."""
    runs = []
    for results_file in sorted(root.glob("*/*/results.json")):
        folder = results_file.parent
        if folder.is_symlink() or folder.stat().st_mtime < since.timestamp():
            continue
        try:
            run = load_run(folder)
        except RunFolderError:
            continue
        if run.started_at >= since:
            runs.append(run)
    return runs


def by_identity(runs: Iterable[Run]) -> dict[str, list[Run]]:
    grouped: dict[str, list[Run]] = {}
    for run in sorted(runs, key=lambda r: r.started_at):
        grouped.setdefault(run.identity, []).append(run)
    return grouped


def within(runs: Iterable[Run], start: datetime, end: datetime) -> list[Run]:
    return [r for r in runs if start < r.started_at <= end]


WEEK = timedelta(days=7)
