"""Prometheus textfile for node_exporter's textfile collector, written atomically."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lms_opscheck.config.durations import parse_duration
from lms_opscheck.probes.redaction import redact
from lms_opscheck.reports.results import EvidenceItem, Results

HELP = {
    "ops_check_up": "1 if the check passed (or is waived), 0 if it failed or could not measure.",
    "ops_check_value": "A numeric value a check measured (durations in seconds).",
    "ops_check_last_run_timestamp_seconds": "When the suite last ran in this environment.",
}


def _escape(value: str) -> str:
    return redact(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def numeric(item: EvidenceItem) -> tuple[float, str] | None:
    """The evidence as a number and its unit: ``"12"`` is 12, ``"850ms"`` is 0.85 seconds."""
    try:
        return float(item.value), item.unit
    except ValueError:
        pass
    try:
        return parse_duration(item.value).total_seconds(), "seconds"
    except ValueError:
        return None


def render(results: Results, now: float | None = None) -> str:
    env = results.run.env
    lines: dict[str, list[str]] = {name: [] for name in HELP}
    for check in results.checks:
        if check.control is None or check.outcome == "skipped":
            continue
        ident = {"control": check.control.id, "env": env, "target": check.subject}
        up = 1 if check.outcome in ("passed", "waived") else 0
        labels = _labels(**ident, severity=check.control.severity)
        lines["ops_check_up"].append(f"ops_check_up{labels} {up}")
        for item in check.evidence:
            number = numeric(item)
            if number is not None:
                labels = _labels(**ident, name=item.name, unit=number[1])
                lines["ops_check_value"].append(f"ops_check_value{labels} {number[0]:g}")
    stamp = time.time() if now is None else now
    lines["ops_check_last_run_timestamp_seconds"].append(
        f"ops_check_last_run_timestamp_seconds{_labels(env=env)} {stamp:.3f}"
    )
    out: list[str] = []
    for name, samples in lines.items():
        out += [f"# HELP {name} {HELP[name]}", f"# TYPE {name} gauge", *dict.fromkeys(samples)]
    return "\n".join(out) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Temp file in the same folder, then rename: the collector never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)  # no half-written leftovers for the collector to skip
        raise
