"""Run the suite in a subprocess, exactly as an operator would, and read back its JUnit XML."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lms_opscheck.record import Results, read_results

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: str  # passed | failed | error | skipped
    message: str
    properties: dict[str, str]


@dataclass(frozen=True)
class SuiteRun:
    exit_code: int
    stdout: str
    stderr: str
    run_dir: Path
    checks: dict[str, CheckResult]

    def only(self, prefix: str) -> CheckResult:
        """The single result whose test name starts with ``prefix``."""
        found = [r for name, r in self.checks.items() if name.startswith(prefix)]
        assert len(found) == 1, f"{prefix}: {sorted(self.checks)}\n{self.stdout}\n{self.stderr}"
        return found[0]

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def results(self) -> Results:
        return read_results(self.run_dir / "results.json")

    @property
    def last_line(self) -> str:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        return lines[-1] if lines else ""


def write_env(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_suite(
    *args: str,
    out: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> SuiteRun:
    # One-token options: pytest picks its rootdir from path-like arguments before it knows ours.
    command = [
        sys.executable,
        "-m",
        "pytest",
        f"--rootdir={REPO}",
        f"--config-file={REPO / 'pyproject.toml'}",
        f"--out={out}",
        *args,
    ]
    completed = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    junit = out / "junit.xml"
    checks = read_junit(junit) if junit.exists() else {}
    return SuiteRun(completed.returncode, completed.stdout, completed.stderr, out, checks)


def read_junit(path: Path) -> dict[str, CheckResult]:
    """Checks by test name (``test_x[param]``, without the control id the testcase name starts
    with); ``message`` is the element's message attribute and its text."""
    results: dict[str, CheckResult] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is not None:
                outcome = "failed" if kind == "failure" else kind
                message = (node.get("message") or "") + "\n" + (node.text or "")
                break
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        name = case.get("name", "").split(" ", 1)[-1]
        results[name] = CheckResult(name, outcome, message, props)
    return results
