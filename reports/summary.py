"""The run's last terminal lines: one per failing check, worst first, then the summary line.

Cron mails and CI logs end with these; the summary line is the very last line of the run.
"""

from __future__ import annotations

from collections.abc import Iterable

from lms_opscheck.record import SEVERITIES, CheckRecord, Results

_KIND = {"failed": "FAILED", "error": "ERROR ", "waived": "WAIVED"}


def _worst_first(check: CheckRecord) -> tuple[int, int, str]:
    return (SEVERITIES.index(check.control.severity), check.outcome != "failed", check.key)


def broken_first(check: CheckRecord) -> tuple[int, int]:
    """Order of the results: failed and unmeasured checks first, worst severity first; the rest
    keep the order they ran in (a stable sort). On-call reads an incident run from the top."""
    if check.alerting:
        return (0, SEVERITIES.index(check.control.severity))
    return (1, 0)


def check_lines(results: Results) -> list[str]:
    """A line per failing or unmeasurable check (worst first), then the waived ones; a suite
    error also gets its traceback, since it is a bug to report, not a verdict."""
    lines: list[str] = []
    alerting = sorted((c for c in results.checks if c.alerting), key=_worst_first)
    for check in alerting:
        lines.append(f"  {_KIND[check.outcome]} {check.headline()}")
    for check in (c for c in alerting if c.detail):
        lines += [f"  {check.key} suite error traceback:", *check.detail.splitlines()]
    waived = sorted((c for c in results.checks if c.outcome == "waived"), key=_worst_first)
    for check in waived:
        w = check.waiver
        why = f" by {w.ticket} until {w.expires}" if w is not None else ""
        lines.append(f"  WAIVED {check.control.id}{why}: {check.message}")
    return lines


def summary_line(results: Results, where: Iterable[tuple[str, str]] = ()) -> str:
    """``ops-check prod: CRITICAL (1 unmeasurable critical check) — 10 passed, …; results: …``"""
    run, summary = results.run, results.summary
    verdict = results.verdict()
    if run.interrupted:
        ran = sum(1 for c in results.checks)
        verdict = f"INTERRUPTED by {run.interrupted} after {ran} check(s); {verdict}"
    paths = "".join(f"; {what}: {path}" for what, path in where)
    return f"ops-check {run.env}: {verdict} — {summary.line()}{paths}"
