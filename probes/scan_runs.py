"""Opt-in: run bandit and pip-audit here, bounded in time, writing their JSON into a folder.

Only when an environment declares ``artifacts.security_scans.run_bandit`` / ``run_pip_audit``;
the reports land in the run folder, where the scan checks read them like any other report.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.security import BanditRun, PipAuditRun
from lms_opscheck.probes.errors import NoAnswer, Unreadable


def run_bandit(run: BanditRun, out_dir: Path) -> Path:
    """``bandit -r SOURCES -x EXCLUDE -f json -o OUT``; bandit exits 1 when it found issues."""
    out = out_dir / f"bandit_{datetime.now(UTC):%Y%m%d_%H%M%S}.json"
    argv = [run.command, "-r", *run.sources, "-f", "json", "-o", str(out), "-q"]
    if run.exclude:
        argv[2 + len(run.sources) : 2 + len(run.sources)] = ["-x", ",".join(run.exclude)]
    return _run("bandit", argv, out, run.timeout, run.cwd, ok=(0, 1))


def run_pip_audit(run: PipAuditRun, out_dir: Path) -> Path:
    """``pip-audit -r REQUIREMENTS -f json -o OUT``; it exits 1 when it found vulnerabilities."""
    out = out_dir / f"pip_audit_{datetime.now(UTC):%Y%m%d_%H%M%S}.json"
    argv = [
        run.command,
        "-r",
        str(run.requirements),
        "-f",
        "json",
        "-o",
        str(out),
        "--progress-spinner",
        "off",
        *run.args,
    ]
    return _run("pip-audit", argv, out, run.timeout, None, ok=(0, 1))


def _run(
    what: str, argv: list[str], out: Path, timeout: timedelta, cwd: Path | None, ok: tuple[int, ...]
) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    where = f"{what} on local://"
    try:
        done = subprocess.run(
            argv, capture_output=True, timeout=timeout.total_seconds(), cwd=cwd, check=False
        )
    except FileNotFoundError:
        raise Unreadable(where, f"{argv[0]}: command not found") from None
    except NotADirectoryError:
        raise Unreadable(where, f"{cwd}: not a folder") from None
    except subprocess.TimeoutExpired:
        raise NoAnswer(where, f"did not finish within {format_duration(timeout)}") from None
    if done.returncode not in ok or not out.is_file():
        stderr = " ".join(done.stderr.decode(errors="replace").split())[-400:]
        raise Unreadable(where, f"exit status {done.returncode}: {stderr or 'no report written'}")
    try:
        json.loads(out.read_bytes())
    except ValueError as exc:
        raise Unreadable(str(out), f"{what} wrote no JSON report: {exc}") from None
    return out
