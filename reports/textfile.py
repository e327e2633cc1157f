"""Prometheus textfile for node_exporter's textfile collector, written atomically.

Metric names, labels and units are documented in docs/results-schema.md ("Prometheus textfile");
``promtool check metrics`` accepts the output (tests/faults/test_reporting_outputs.py).
"""

from __future__ import annotations

import time

from lms_opscheck.probes.redaction import redact
from lms_opscheck.record import OUTCOMES, Results, parse_iso

#: name -> (type, help)
METRICS: dict[str, tuple[str, str]] = {
    "ops_check_up": (
        "gauge",
        "1 if the check passed or is waived, 0 if it failed or could not be measured.",
    ),
    "ops_check_state": (
        "gauge",
        "1 for the check's outcome (passed, failed, error = could not measure, waived).",
    ),
    "ops_check_value": (
        "gauge",
        "A number a check measured, in the base unit named by the unit label.",
    ),
    "ops_run_checks": ("gauge", "Checks of the last run by outcome."),
    "ops_run_duration_seconds": ("gauge", "How long the last run took, from start to results."),
    "ops_run_interrupted": ("gauge", "1 if the last run was interrupted before it finished."),
    "ops_check_last_run_timestamp_seconds": (
        "gauge",
        "When the suite last ran in this environment (Unix time).",
    ),
}
STATES = ("passed", "failed", "error", "waived")


def _escape(value: str) -> str:
    return redact(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def render(results: Results, now: float | None = None) -> str:
    env = results.run.env
    samples: dict[str, list[str]] = {name: [] for name in METRICS}
    for check in results.checks:
        if check.outcome == "skipped":
            continue  # nothing was measured: no sample rather than a made-up one
        ident = {"env": env, "control": check.control.id, "target": check.subject}
        severity = check.control.severity
        up = 1 if check.outcome in ("passed", "waived") else 0
        samples["ops_check_up"].append(f"ops_check_up{_labels(**ident, severity=severity)} {up}")
        for state in STATES:
            labels = _labels(**ident, severity=severity, state=state)
            samples["ops_check_state"].append(
                f"ops_check_state{labels} {int(check.outcome == state)}"
            )
        for item in check.evidence:
            if item.number is None:
                continue
            labels = _labels(**ident, name=item.name, unit=item.unit)
            samples["ops_check_value"].append(f"ops_check_value{labels} {_number(item.number)}")
    counts = {o: sum(c.outcome == o for c in results.checks) for o in OUTCOMES}
    for outcome, count in counts.items():
        samples["ops_run_checks"].append(
            f"ops_run_checks{_labels(env=env, outcome=outcome)} {count}"
        )
    stamp = time.time() if now is None else now
    run = _labels(env=env)
    samples["ops_run_duration_seconds"].append(
        f"ops_run_duration_seconds{run} {_number(round(_duration(results), 3))}"
    )
    interrupted = int(results.run.interrupted is not None)
    samples["ops_run_interrupted"].append(f"ops_run_interrupted{run} {interrupted}")
    samples["ops_check_last_run_timestamp_seconds"].append(
        f"ops_check_last_run_timestamp_seconds{run} {stamp:.3f}"
    )
    out: list[str] = []
    for name, (kind, text) in METRICS.items():
        unique = list(dict.fromkeys(samples[name]))
        if unique:
            out += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *unique]
    return "\n".join(out) + "\n"


def _duration(results: Results) -> float:
    try:
        started, finished = parse_iso(results.run.started_at), parse_iso(results.run.finished_at)
    except ValueError:
        return 0.0
    return max(0.0, (finished - started).total_seconds())
