"""Allure run metadata: environment.properties, categories, executor, and an Allure 3 allurerc."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lms_opscheck.probes.redaction import redact

#: Outcome categories, first match wins (Allure 2 reads categories.json, Allure 3 allurerc).
CATEGORIES: list[dict[str, Any]] = [
    {
        "name": name,
        "matchedStatuses": ["failed", "broken"],
        # The trace is the record's body: its first line is "ID [severity] <category>: ...".
        # [\s\S]: matches newlines in Java (Allure 2) and JavaScript (Allure 3) alike.
        "traceRegex": rf"[^\n]*\] {name}: [\s\S]*",
    }
    for name in ("target unhealthy", "could not measure", "configuration", "suite error")
]


def _property(value: str) -> str:
    """Java .properties escaping, for values on one line."""
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n")
    return escaped.replace("=", "\\=").replace(":", "\\:")


def environment_properties(info: Mapping[str, str]) -> str:
    return "".join(f"{key}={_property(redact(value))}\n" for key, value in info.items())


def executor(run_id: str, env: str, report_url: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "opscheck",
        "type": "pytest",
        "buildName": f"{env} {run_id}",
        "buildOrder": run_id,
    }
    if report_url:
        data["reportUrl"] = report_url
    return data


def allurerc(name: str, history_path: Path | None) -> dict[str, Any]:
    """Allure 3 config: single-file report, our categories, and trend history when asked.

    Paths inside the run folder are relative, so a copied run folder generates its own report
    (``cd RUN_DIR && npx allure@3 generate allure-results``) instead of overwriting the original.
    """
    config: dict[str, Any] = {
        "name": name,
        "output": "allure-report",
        "plugins": {"awesome": {"options": {"singleFile": True, "reportName": name}}},
        "categories": {"rules": CATEGORIES},
    }
    if history_path is not None:
        config["historyPath"] = str(history_path)
    return config


def write_meta(
    run_dir: Path,
    allure_dir: Path,
    info: Mapping[str, str],
    run_id: str,
    history_path: Path | None,
) -> None:
    """Written once per run, on the controller (xdist workers would race on these files)."""
    allure_dir.mkdir(parents=True, exist_ok=True)
    env = info.get("env", "")
    (allure_dir / "environment.properties").write_text(environment_properties(info))
    (allure_dir / "categories.json").write_text(json.dumps(CATEGORIES, indent=2) + "\n")
    (allure_dir / "executor.json").write_text(json.dumps(executor(run_id, env), indent=2) + "\n")
    name = f"LMS ops checks: {env}"
    config = allurerc(name, history_path)
    (run_dir / "allurerc.json").write_text(json.dumps(config, indent=2) + "\n")
