"""Security scan reports: the newest bandit and pip-audit JSON report of a folder, parsed.

A report's age is the scanner's own ``generated_at`` (bandit) or the file's mtime (pip-audit
writes no timestamp): a report copied without keeping its mtime (``cp`` without ``-p``) looks
fresh, which is why bandit's own stamp wins where there is one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lms_opscheck.config.security import ReportLocation
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.hosts import Shell

LIST_TIMEOUT = timedelta(seconds=30)
#: A bandit report of a large code base is a few MB; anything past this is not a report.
MAX_REPORT_BYTES = 32 * 1024 * 1024
LEVELS = ("UNDEFINED", "LOW", "MEDIUM", "HIGH")


@dataclass(frozen=True)
class ReportFile:
    name: str
    path: str
    where: str  # "<dir> on <host>"
    modified: datetime
    size: int

    def __str__(self) -> str:
        return f"{self.name} ({self.where})"


def newest_report(shell: Shell, location: ReportLocation) -> ReportFile | None:
    """The newest file (by mtime) in ``location.dir`` whose name matches the pattern."""
    where = f"{location.dir} on {shell.label}"
    pattern = re.compile(location.pattern)
    entries = [e for e in _entries(shell, location.dir, where) if pattern.fullmatch(e[0])]
    if not entries:
        return None
    name, size, mtime = max(entries, key=lambda e: (e[2], e[0]))
    path = f"{location.dir.rstrip('/')}/{name}"
    return ReportFile(name, path, where, datetime.fromtimestamp(mtime, UTC), size)


def _entries(shell: Shell, directory: str, where: str) -> list[tuple[str, int, float]]:
    if shell.is_local:
        try:
            with os.scandir(directory) as found:
                return [
                    (e.name, (s := e.stat()).st_size, s.st_mtime)
                    for e in found
                    if e.is_file(follow_symlinks=False)
                ]
        except OSError as exc:
            raise Unreadable(where, f"cannot list: {exc.strerror}") from None
    done = shell.run(
        ["find", directory, "-maxdepth", "1", "-type", "f", "-printf", r"%f\t%s\t%T@\n"],
        LIST_TIMEOUT,
    )
    if done.rc != 0:
        raise Unreadable(where, f"cannot list: {done.error_text}")
    entries = []
    for line in done.stdout.decode(errors="replace").splitlines():
        name, size, mtime = ([*line.split("\t"), "", ""])[:3]
        try:
            entries.append((name, int(size), float(mtime)))
        except ValueError:
            raise Unreadable(where, f"unexpected listing line {line[:120]!r}") from None
    return entries


def read_json(shell: Shell, report: ReportFile) -> Any:
    """The report's JSON; Unreadable if it is too large, cannot be read or is not JSON."""
    if report.size > MAX_REPORT_BYTES:
        raise Unreadable(str(report), f"{report.size} bytes: larger than {MAX_REPORT_BYTES}")
    if shell.is_local:
        try:
            data = Path(report.path).read_bytes()
        except OSError as exc:
            raise Unreadable(str(report), f"cannot read: {exc.strerror}") from None
    else:
        done = shell.run(["head", "-c", str(MAX_REPORT_BYTES), "--", report.path], LIST_TIMEOUT)
        if done.rc != 0:
            raise Unreadable(str(report), f"cannot read: {done.error_text}")
        data = done.stdout
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unreadable(str(report), f"not a JSON report: {exc}") from None


# -- bandit ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BanditFinding:
    test_id: str
    path: str
    line: int
    severity: str
    confidence: str
    text: str

    @property
    def key(self) -> str:
        """How a waiver names it: ``B602:app/utils.py:41``."""
        return f"{self.test_id}:{self.path}:{self.line}"

    def __str__(self) -> str:
        return f"{self.key} ({self.severity}/{self.confidence}: {self.text})"


@dataclass(frozen=True)
class BanditReport:
    file: ReportFile
    generated_at: datetime
    findings: tuple[BanditFinding, ...]
    errors: tuple[str, ...]  # files bandit could not scan
    lines: int  # lines of code scanned

    def at_or_above(self, severity: str, confidence: str) -> list[BanditFinding]:
        rank = LEVELS.index
        return [
            f
            for f in self.findings
            if rank(f.severity) >= rank(severity) and rank(f.confidence) >= rank(confidence)
        ]


def parse_bandit(data: Any, file: ReportFile) -> BanditReport:
    """bandit's ``-f json`` output: ``results[]``, ``errors[]``, ``metrics._totals``, stamp."""
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise Unreadable(str(file), "not a bandit JSON report (no results list)")
    try:
        findings = tuple(
            BanditFinding(
                test_id=str(r["test_id"]),
                path=_relative(str(r["filename"])),
                line=int(r["line_number"]),
                severity=_level(r.get("issue_severity")),
                confidence=_level(r.get("issue_confidence")),
                text=str(r.get("issue_text", "")),
            )
            for r in data["results"]
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Unreadable(str(file), f"malformed bandit result: {exc!r}") from None
    totals = data.get("metrics", {}).get("_totals", {}) if isinstance(data, dict) else {}
    errors = tuple(
        f"{e.get('filename', '?')}: {e.get('reason', '?')}"
        for e in data.get("errors", [])
        if isinstance(e, dict)
    )
    return BanditReport(
        file=file,
        generated_at=_stamp(data.get("generated_at")) or file.modified,
        findings=findings,
        errors=errors,
        lines=int(totals.get("loc", 0) or 0),
    )


def _relative(path: str) -> str:
    return os.path.normpath(path)  # ./app/x.py and app/x.py are one location for a waiver


def _level(value: Any) -> str:
    text = str(value or "UNDEFINED").upper()
    return text if text in LEVELS else "UNDEFINED"


def _stamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- pip-audit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vulnerability:
    package: str
    version: str
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """Every id a waiver may name it by: its own and its aliases (CVE, GHSA, PYSEC)."""
        return (self.id, *self.aliases)

    def __str__(self) -> str:
        also = f" ({', '.join(self.aliases)})" if self.aliases else ""
        fix = ", ".join(self.fix_versions) or "none"
        return f"{self.id}{also} in {self.package} {self.version}, fixed in: {fix}"


@dataclass(frozen=True)
class AuditReport:
    file: ReportFile
    generated_at: datetime
    audited: int
    skipped: tuple[str, ...]  # "name: reason" of dependencies pip-audit could not audit
    vulnerabilities: tuple[Vulnerability, ...]


def parse_pip_audit(data: Any, file: ReportFile) -> AuditReport:
    """pip-audit's ``-f json``: ``dependencies[]`` with ``vulns[]`` (or a ``skip_reason``)."""
    if not isinstance(data, dict) or not isinstance(data.get("dependencies"), list):
        raise Unreadable(str(file), "not a pip-audit JSON report (no dependencies list)")
    audited, skipped, vulns = 0, [], []
    try:
        for dep in data["dependencies"]:
            name = str(dep["name"])
            if "vulns" not in dep:
                skipped.append(f"{name}: {dep.get('skip_reason', 'not audited')}")
                continue
            audited += 1
            vulns += [
                Vulnerability(
                    package=name,
                    version=str(dep.get("version", "?")),
                    id=str(v["id"]),
                    aliases=tuple(str(a) for a in v.get("aliases", ())),
                    fix_versions=tuple(str(f) for f in v.get("fix_versions", ())),
                )
                for v in dep["vulns"]
            ]
    except (KeyError, TypeError) as exc:
        raise Unreadable(str(file), f"malformed pip-audit dependency: {exc!r}") from None
    return AuditReport(file, file.modified, audited, tuple(skipped), tuple(vulns))
