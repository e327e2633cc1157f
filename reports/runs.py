"""Run folders read back for reports: results.json (or junit.xml) and governance.json."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

RESULTS_SCHEMA = "opscheck.results/1"
OUTCOMES = ("passed", "failed", "error", "skipped", "waived")


class RunFolderError(Exception):
    """A run folder that cannot be read: names the folder and what is missing."""


@dataclass(frozen=True)
class Run:
    path: Path
    id: str
    env: str
    started_at: datetime
    checks: tuple[dict[str, Any], ...]
    governance: dict[str, Any] | None
    source: str  # "results.json" or "junit.xml (results.json absent)"
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for check in self.checks:
            counts[check["outcome"]] = counts.get(check["outcome"], 0) + 1
        return counts


def parse_time(text: object) -> datetime:
    if not text:
        return datetime.fromtimestamp(0, UTC)
    if not isinstance(text, str):
        raise ValueError(f"{text!r:.40} is not an ISO 8601 time")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r:.40} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_run(path: Path) -> Run:
    """The run in ``path``; anything unreadable or malformed is a RunFolderError naming the file."""
    has_governance = (path / "governance.json").is_file()
    governance = _read_json(path / "governance.json") if has_governance else None
    results = path / "results.json"
    if results.is_file():
        data = _read_json(results)
        if data.get("schema") != RESULTS_SCHEMA:
            raise RunFolderError(f"{results}: schema {data.get('schema')!r}, not {RESULTS_SCHEMA}")
        with _problems_in(results):
            return _from_results(path, data, governance)
    junit = path / "junit.xml"
    if junit.is_file():
        with _problems_in(junit):
            started = datetime.fromtimestamp(junit.stat().st_mtime, UTC)
            env = (governance or {}).get("env") or path.parent.name
            checks = tuple(_normalised(c) for c in _from_junit(junit, started))
            return Run(path, path.name, str(env), started, checks, governance, "junit.xml", {})
    raise RunFolderError(f"{path}: neither results.json nor junit.xml; is it a run folder?")


@contextmanager
def _problems_in(path: Path) -> Iterator[None]:
    """Re-raise what malformed content makes the readers raise as one RunFolderError line."""
    try:
        yield
    except RunFolderError as exc:
        raise RunFolderError(f"{path}: {exc}") from None
    except ET.ParseError as exc:
        raise RunFolderError(f"{path}: malformed XML: {exc}") from None
    except KeyError as exc:
        raise RunFolderError(f"{path}: required key {exc} is missing") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise RunFolderError(f"{path}: malformed content: {exc}") from None


def _from_results(path: Path, data: dict[str, Any], governance: dict[str, Any] | None) -> Run:
    run = data["run"]
    checks = data.get("checks", [])
    if not isinstance(run, dict) or not isinstance(checks, list):
        raise RunFolderError('"run" must be an object and "checks" a list')
    try:
        started = parse_time(run.get("started_at"))
    except ValueError as exc:
        raise RunFolderError(f"run.started_at: {exc}") from None
    return Run(
        path,
        str(run.get("id") or path.name),
        str(run.get("env") or path.parent.name),
        started,
        tuple(_normalised(c) for c in checks),
        governance,
        "results.json",
        run,
    )


def discover_history(runs: list[Run], weeks: int = 9) -> list[Run]:
    """Other run folders of the same environment next to the given ones (out/<env>/*), oldest
    first, from the ``weeks`` before the newest given run (judged by folder time before reading).
    """
    seen = {r.path.resolve() for r in runs}
    envs = {r.env for r in runs}
    since = (max(r.started_at for r in runs) - timedelta(weeks=weeks)).timestamp()
    found: list[Run] = []
    for parent in {r.path.resolve().parent for r in runs}:
        for candidate in sorted(parent.iterdir()):
            if candidate.is_symlink() or not candidate.is_dir() or candidate.resolve() in seen:
                continue
            if candidate.stat().st_mtime < since:
                continue
            try:
                run = load_run(candidate)
            except (RunFolderError, OSError):
                continue  # a half-written or foreign folder is not history
            if run.env in envs:
                found.append(run)
    return sorted(found, key=lambda r: r.started_at)


_CHECK_DEFAULTS: dict[str, Any] = {
    "category": None,
    "message": "",
    "duration_s": 0.0,
    "finished_at": None,
    "target": None,
    "evidence": [],
    "waiver": None,
}
_CONTROL_DEFAULTS = {"title": "", "severity": "", "runbook": "", "area": "", "remediation": ""}
_EVIDENCE_DEFAULTS = {"unit": "", "threshold": None, "target": None, "at": None}


def _normalised(check: dict[str, Any]) -> dict[str, Any]:
    """A check with every key of the contract present, so templates need no guards."""
    if not isinstance(check, dict) or not isinstance(check.get("control"), dict):
        raise RunFolderError(f"a check that is not an object with a control: {check!r:.120}")
    if "nodeid" not in check or "outcome" not in check or "id" not in check["control"]:
        raise RunFolderError(f"a check without nodeid, outcome or control id: {check!r:.120}")
    control = {**_CONTROL_DEFAULTS, "runbook_url": None, **check["control"]}
    evidence = [{**_EVIDENCE_DEFAULTS, **e} for e in check.get("evidence") or []]
    return {**_CHECK_DEFAULTS, **check, "control": control, "evidence": evidence}


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise RunFolderError(f"{path}: expected a JSON object")
    return data


def _from_junit(path: Path, started: datetime) -> list[dict[str, Any]]:
    checks = []
    for case in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        if "control_id" not in props:
            continue
        outcome, message = "passed", ""
        for kind, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            node = case.find(kind)
            if node is not None:
                outcome, message = name, node.get("message") or ""
                break
        waiver = json.loads(props["ops.waiver"]) if "ops.waiver" in props else None
        module = case.get("classname", "").rsplit(".", 1)[-1].removeprefix("test_")
        checks.append(
            {
                # the pytest node id, so a week's junit- and results.json-runs line up
                "nodeid": f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}",
                "control": {
                    "id": props["control_id"],
                    "title": case.get("name", ""),
                    "severity": props.get("severity", ""),
                    "runbook": props.get("runbook", ""),
                    "area": module.replace("_", " ").capitalize(),
                    "area_guessed": True,
                    "remediation": "",
                    "runbook_url": props.get("runbook_url"),
                },
                "outcome": "waived" if waiver else outcome,
                "category": None,
                "message": message,
                "duration_s": float(case.get("time") or 0),
                "finished_at": started.isoformat(),
                "target": None,
                "evidence": [
                    {"name": k.removeprefix("evidence."), "value": v, "unit": "", "at": None}
                    for k, v in props.items()
                    if k.startswith("evidence.")
                ],
                "waiver": waiver,
            }
        )
    return checks
