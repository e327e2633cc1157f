"""The weekly compliance report: one printable HTML file and its Markdown twin, from run folders.

Usage: ``lms-opscheck-report RUN_DIR [RUN_DIR...] -o OUT [--no-history]``
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from lms_opscheck.probes.redaction import redact
from lms_opscheck.reports.coverage import declared_controls, load_matrix, resolve
from lms_opscheck.reports.runs import Run, RunFolderError, discover_history, load_run

TEMPLATES = Path(__file__).with_name("templates")
WEEK = timedelta(days=7)
RANK = {"passed": 0, "skipped": 0, "waived": 1, "error": 2, "failed": 3}
HISTORY_WEEKS = 8


def latest_checks(runs: Iterable[Run]) -> list[dict[str, Any]]:
    """One result per check: the most recent across ``runs`` (a week's daily and weekly runs).

    A later *skipped* result does not hide an earlier measured one (a run of another cadence).
    """
    by_node: dict[str, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: r.started_at):
        for check in run.checks:
            earlier = by_node.get(check["nodeid"])
            if check["outcome"] == "skipped" and earlier and earlier["outcome"] != "skipped":
                continue
            by_node[check["nodeid"]] = {**check, "run_id": run.id}
    # junit.xml does not carry the area: borrow it from a check of the same control family.
    known = {
        c["control"]["id"][:3]: c["control"]["area"]
        for c in by_node.values()
        if not c["control"].get("area_guessed")
    }
    for check in by_node.values():
        family = check["control"]["id"][:3]
        if check["control"].get("area_guessed") and family in known:
            check["control"] = {**check["control"], "area": known[family]}
    return sorted(by_node.values(), key=lambda c: (c["control"]["id"], c["nodeid"]))


def status_of(checks: Iterable[dict[str, Any]]) -> str:
    checks = list(checks)
    if any(c["outcome"] == "failed" and c["control"]["severity"] == "critical" for c in checks):
        return "not compliant"
    if any(c["outcome"] in ("failed", "error") for c in checks):
        return "attention"
    return "compliant" if checks else "no data"


def build(runs: list[Run], history: list[Run], now: datetime | None = None) -> dict[str, Any]:
    """Everything the templates show, as plain data (also what the unit tests assert on)."""
    now = now or datetime.now(UTC)
    newest = max(r.started_at for r in runs)
    everything = sorted(
        {r.path.resolve(): r for r in [*history, *runs]}.values(), key=lambda r: r.started_at
    )
    week = [r for r in everything if r.started_at > newest - WEEK]
    earlier = [r for r in everything if r.started_at <= newest - WEEK]
    checks = latest_checks(week)
    governance = next((r.governance for r in reversed(week) if r.governance), None) or {}
    weeks = _weeks(earlier, checks)
    declared = declared_controls()
    outcome_of = _control_outcomes(checks)
    return {
        "env": runs[-1].env,
        "generated_at": now.strftime("%Y-%m-%d %H:%M UTC"),
        "period": f"{(newest - WEEK).date()} – {newest.date()}",
        "status": status_of(checks),
        "runs": [_run_row(r) for r in week],
        "sources": sorted({r.source for r in week}),
        "counts": dict(Counter(c["outcome"] for c in checks)),
        "areas": _areas(checks),
        "checks": checks,
        "failures": [c for c in checks if c["outcome"] in ("failed", "error")],
        "waived": [c for c in checks if c["outcome"] == "waived"],
        "waivers": governance.get("waivers", []),
        "attestations": governance.get("attestations", []),
        "governance_day": governance.get("day"),
        "weeks": weeks,
        "coverage": _coverage(declared, outcome_of, governance.get("attestations", [])),
    }


def _run_row(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "started_at": run.started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "selection": run.info.get("selection", ""),
        "source": run.source,
        "summary": run.summary(),
    }


def _areas(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    areas: dict[str, list[dict[str, Any]]] = {}
    for check in checks:
        areas.setdefault(check["control"]["area"] or "other", []).append(check)
    return [
        {
            "name": name,
            "status": status_of(items),
            "counts": dict(Counter(c["outcome"] for c in items)),
        }
        for name, items in sorted(areas.items())
    ]


def _control_outcomes(checks: list[dict[str, Any]]) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for check in checks:
        cid, outcome = check["control"]["id"], check["outcome"]
        if RANK.get(outcome, 0) >= RANK.get(outcomes.get(cid, "passed"), 0):
            outcomes[cid] = outcome
    return outcomes


def _weeks(earlier: list[Run], current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    grouped: dict[str, list[Run]] = {}
    for run in earlier:
        year, number, _ = run.started_at.isocalendar()
        grouped.setdefault(f"{year}-W{number:02d}", []).append(run)
    rows = []
    for label, runs in sorted(grouped.items())[-HISTORY_WEEKS:]:
        checks = latest_checks(runs)
        rows.append(
            {
                "label": label,
                "runs": len(runs),
                "status": status_of(checks),
                "counts": dict(Counter(c["outcome"] for c in checks)),
                "controls": _control_outcomes(checks),
            }
        )
    rows.append(
        {
            "label": "this week",
            "runs": None,
            "status": status_of(current),
            "counts": dict(Counter(c["outcome"] for c in current)),
            "controls": _control_outcomes(current),
        }
    )
    return rows


def _coverage(
    declared: set[str], outcomes: dict[str, str], attestations: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    states = {a["id"]: a["state"] for a in attestations}
    rows = []
    for entry in load_matrix():
        automated, planned = resolve(entry, declared)
        if automated:
            kind = "automated"
            detail = ", ".join(f"{c} ({outcomes.get(c, 'not run')})" for c in automated)
        elif entry.attestation:
            kind = "attestation"
            detail = f"{entry.attestation} ({states.get(entry.attestation, 'not run')})"
        else:
            kind = "not covered"
            detail = entry.not_covered or f"planned: {', '.join(planned)} (no check yet)"
        rows.append({"item": entry.item, "kind": kind, "detail": detail})
    return rows


def render(data: dict[str, Any]) -> tuple[str, str]:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    html = env.get_template("compliance.html.j2").render(**data)
    markdown = env.get_template("compliance.md.j2").render(**data)
    return redact(html), redact(markdown)


def write_report(run_dirs: list[Path], out: Path, *, history: bool = True) -> list[Path]:
    runs = [load_run(path) for path in run_dirs]
    older = discover_history(runs) if history else []
    html, markdown = render(build(runs, older))
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "compliance.html", out / "compliance.md"]
    paths[0].write_text(html, encoding="utf-8")
    paths[1].write_text(markdown, encoding="utf-8")
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lms-opscheck-report", description=__doc__)
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("-o", "--out", type=Path, required=True, help="folder for the report")
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="do not look for earlier run folders next to the given ones",
    )
    args = parser.parse_args(argv)
    try:
        paths = write_report(args.run_dirs, args.out, history=not args.no_history)
    except (RunFolderError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


__all__ = ["build", "main", "render", "write_report"]

if __name__ == "__main__":
    sys.exit(main())
