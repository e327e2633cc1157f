"""The weekly compliance report: one printable HTML file and its Markdown twin, from run folders.

Built only from results records. Runs merge by environment identity (never by a shared name);
runs that measured nothing are left out; a period, an area or a control without evidence is
"no evidence", never compliant; every failure within the period is listed with when it was
seen and whether it was resolved.

Usage: ``lms-opscheck-report RUN_DIR [RUN_DIR...] -o OUT [--no-history]``
       ``lms-opscheck-report --all ROOT -o OUT`` (every environment under ROOT/<env>/<run>)
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from lms_opscheck import atomic
from lms_opscheck.probes.redaction import redact
from lms_opscheck.record import Control
from lms_opscheck.reports import coverage
from lms_opscheck.reports.period import (
    ControlPeriod,
    Timeline,
    analyse,
    environment_status,
    timelines,
    worst,
)
from lms_opscheck.reports.runs import (
    WEEK,
    Run,
    RunFolderError,
    by_identity,
    discover_history,
    load_run,
    runs_under,
    within,
)

TEMPLATES = Path(__file__).with_name("templates")
HISTORY_WEEKS = 8
#: The trend's weeks and this one (monthly controls' 31-day lookback fits within them).
HISTORY_SPAN = timedelta(weeks=HISTORY_WEEKS + 1)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def catalogue_of(runs: list[Run]) -> list[Control]:
    """Every control the runs collected (the newest declaration of each id wins)."""
    found: dict[str, Control] = {}
    for run in runs:
        for control in run.results.catalogue:
            found[control.id] = control
        for check in run.checks:  # a results file written without a catalogue
            found.setdefault(check.control.id, check.control)
    return sorted(found.values(), key=lambda c: c.id)


def environment(runs: list[Run], end: datetime) -> dict[str, Any]:
    """One environment's section: ``runs`` is every run of it (history included), oldest first."""
    start = end - WEEK
    period = within(runs, start, end)
    measured = [r for r in period if r.measured]
    catalogue = catalogue_of([r for r in runs if r.started_at <= end])
    indexed = timelines(r for r in runs if r.measured)
    controls = [analyse(c, indexed.get(c.id, []), end) for c in catalogue]
    status = environment_status(controls) if measured else "no evidence"
    areas: dict[str, list[ControlPeriod]] = {}
    for row in controls:
        areas.setdefault(row.control.area, []).append(row)
    newest = measured[-1] if measured else (period[-1] if period else runs[-1])
    governance = next((r.governance for r in reversed(measured) if r.governance), None) or {}
    outcomes = {row.control.id: row.status for row in controls}
    rows = [coverage.resolve(e, {c.id for c in catalogue}) for e in coverage.load_matrix()]
    incidents = sorted((i for row in controls for i in row.incidents), key=lambda i: i.first_seen)
    return {
        "name": newest.env,
        "identity": newest.identity,
        "status": status,
        "period": f"{_when(start)} – {_when(end)}",
        "runs": [_run_row(r) for r in period],
        "excluded": len(period) - len(measured),
        "selections": dict(Counter(r.results.run.selection or "(all)" for r in measured)),
        "areas": [
            {"name": name, "status": environment_status(items), "controls": items}
            for name, items in sorted(areas.items())
        ],
        "controls": controls,
        "incidents": [
            {
                "incident": i,
                "first_seen": _when(i.first_seen),
                "last_seen": _when(i.last_seen),
                "resolved": _when(i.resolved_at) if i.resolved_at else "unresolved",
            }
            for i in incidents
        ],
        "waived": [c for row in controls for c in row.latest if c.outcome == "waived"],
        "waivers": governance.get("waivers", []),
        "attestations": governance.get("attestations", []),
        "governance_day": governance.get("day"),
        "weeks": _trend(runs, indexed, end),
        "coverage": [
            {"row": r, "outcomes": {c: outcomes.get(c, "not declared") for c in r.controls}}
            for r in rows
        ],
        "coverage_figures": coverage.figures(rows),
    }


def _run_row(run: Run) -> dict[str, Any]:
    counts = Counter(c.outcome for c in run.checks)
    return {
        "id": run.id,
        "started_at": _when(run.started_at),
        "selection": run.results.run.selection or "(all)",
        "verdict": run.results.verdict(),
        "counts": dict(counts),
        "measured": run.measured,
        "interrupted": run.results.run.interrupted,
    }


def _trend(runs: list[Run], indexed: dict[str, Timeline], end: datetime) -> list[dict[str, Any]]:
    rows = []
    for weeks_back in range(HISTORY_WEEKS, -1, -1):
        week_end = end - weeks_back * WEEK
        period = [r for r in within(runs, week_end - WEEK, week_end) if r.measured]
        if not period and weeks_back:
            continue
        usable = [r for r in runs if r.measured and r.started_at <= week_end]
        controls = [analyse(c, indexed.get(c.id, []), week_end) for c in catalogue_of(usable)]
        year, number, _ = (week_end - timedelta(seconds=1)).isocalendar()
        rows.append(
            {
                "label": "this period" if not weeks_back else f"{year}-W{number:02d}",
                "runs": len(period),
                "status": environment_status(controls) if period else "no evidence",
                "failures": sum(len(c.incidents) for c in controls),
            }
        )
    return rows


def build(runs: list[Run], history: list[Run], now: datetime | None = None) -> dict[str, Any]:
    """Everything the templates show, as plain data (also what the unit tests assert on)."""
    now = now or datetime.now(UTC)
    everything = {r.path.resolve(): r for r in [*history, *runs]}
    grouped = by_identity(everything.values())
    wanted = list(dict.fromkeys(r.identity for r in sorted(runs, key=lambda r: r.started_at)))
    end = max(r.started_at for r in runs)
    sections = [environment(grouped[identity], end) for identity in wanted]
    return {
        "generated_at": _when(now),
        "period": sections[0]["period"],
        "status": worst(s["status"] for s in sections),
        "environments": sections,
        "ignored": {},
    }


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept across runs in the user's cache folder (compiling both costs
    more than rendering them); none when that folder cannot be written."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "lms-opscheck" / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


@functools.cache
def _templates() -> jinja2.Environment:
    """Compiled once per process, and reused across processes through the bytecode cache."""
    return jinja2.Environment(
        bytecode_cache=_bytecode_cache(),
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(data: dict[str, Any]) -> tuple[str, str]:
    env = _templates()
    html = env.get_template("compliance.html.j2").render(**data)
    markdown = env.get_template("compliance.md.j2").render(**data)
    return redact(html), redact(markdown)


def gather(
    run_dirs: list[Path], *, history: bool = True
) -> tuple[list[Run], list[Run], dict[str, int]]:
    runs = [load_run(path) for path in run_dirs]
    if not history:
        return runs, [], {}
    since = max(r.started_at for r in runs) - HISTORY_SPAN
    found = discover_history(runs, since)
    return (
        runs,
        found.runs,
        {"other environments": found.other_environments, "unreadable": found.unreadable},
    )


def write_report(run_dirs: list[Path], out: Path, *, history: bool = True) -> list[Path]:
    runs, older, ignored = gather(run_dirs, history=history)
    return _write(build(runs, older) | {"ignored": ignored}, out)


def write_all(root: Path, out: Path, now: datetime | None = None) -> list[Path]:
    """One report for every environment under ``root`` (shared storage of run folders)."""
    now = now or datetime.now(UTC)
    runs = runs_under(root, now - HISTORY_SPAN)
    newest = {identity: group[-1] for identity, group in by_identity(runs).items()}
    recent = [run for run in newest.values() if run.started_at > now - WEEK]
    if not recent:
        raise RunFolderError(f"{root}: no run folder of the last 7 days under {root}/<env>/<run>")
    return _write(build(recent, runs, now) | {"ignored": {}}, out)


def _write(data: dict[str, Any], out: Path) -> list[Path]:
    html, markdown = render(data)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "compliance.html", out / "compliance.md"]
    atomic.write_text(paths[0], html)
    atomic.write_text(paths[1], markdown)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lms-opscheck-report", description=__doc__)
    parser.add_argument("run_dirs", nargs="*", type=Path, metavar="RUN_DIR")
    parser.add_argument("--all", type=Path, metavar="ROOT", help="every environment under ROOT")
    parser.add_argument("-o", "--out", type=Path, required=True, help="folder for the report")
    parser.add_argument(
        "--no-history",
        action="store_true",
        help="do not look for earlier run folders next to the given ones",
    )
    args = parser.parse_args(argv)
    if bool(args.run_dirs) == bool(args.all):
        parser.error("give RUN_DIR... or --all ROOT")
    try:
        if args.all:
            paths = write_all(args.all, args.out)
        else:
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
