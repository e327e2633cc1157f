"""k6 summaries in both shapes k6 writes, for self-tests (k6 itself is not installable here).

``handle_summary`` is the ``handleSummary`` data object (sandbox/loadtest.py writes it from real
requests); ``summary_export`` turns it into the ``--summary-export`` shape exactly as k6's summary
wrapper (js/summary-wrapper.js, ``oldJSONSummary``) does: each metric becomes its ``values``,
a rate metric's ``rate`` becomes ``value``, and each threshold becomes ``!ok`` (true: crossed).
"""

from __future__ import annotations

import copy
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from lms_opscheck.sandbox.loadtest import handle_summary_data


def handle_summary(
    p_ms: float = 120.0, count: int = 600, failed: int = 0, seconds: float = 20.0
) -> dict[str, Any]:
    """A summary of ``count`` requests of about ``p_ms`` (p95 ≈ p_ms), ``failed`` of them 500."""
    samples = [(p_ms * (0.5 + 0.5 * i / count), 500 if i < failed else 200) for i in range(count)]
    return handle_summary_data(samples, seconds * 1000, vus=10)


def summary_export(data: dict[str, Any]) -> dict[str, Any]:
    results = copy.deepcopy(data)
    results.pop("options", None)
    results.pop("state", None)
    for name, metric in list(results["metrics"].items()):
        old = metric["values"]
        if metric.get("thresholds"):
            old["thresholds"] = {t: not r["ok"] for t, r in metric["thresholds"].items()}
        if metric["type"] == "rate" and "rate" in old:
            old["value"] = old.pop("rate")
        results["metrics"][name] = old
    checks = results["root_group"]["checks"]
    results["root_group"]["checks"] = {c["name"]: c for c in checks}
    return results


def write(directory: Path, name: str, data: dict[str, Any], mtime: datetime | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(json.dumps(data, indent=2))
    if mtime is not None:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path
