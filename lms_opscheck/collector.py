"""The controller's results collector: records in, every output out.

Registered on the controller only (xdist workers' reports arrive here serialised). At session
finish it builds one ``Results`` from the records the verdict hook attached and writes, in
order: results.json, junit.xml, governance.json, alerts.json (and the push), the textfile, the
compliance report when asked; then prunes old run folders. The terminal summary is printed last
of all, at unconfigure, so that its line is the run's true last line.

This module is the composition root: it may import both fixtures (stash keys) and reports
(writers), which never import each other.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import socket
import sys
import tomllib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lms_opscheck import atomic
from lms_opscheck.config.model import Environment
from lms_opscheck.fixtures.controls import CATALOGUE
from lms_opscheck.fixtures.environment import ENVIRONMENT, is_dry_run
from lms_opscheck.fixtures.governance import today
from lms_opscheck.fixtures.outputs import RUN_DIR, display, update_latest_link
from lms_opscheck.fixtures.plugin import INTERRUPTED_BY
from lms_opscheck.fixtures.verdict import RECORD_PROPERTY
from lms_opscheck.record import (
    SEVERITIES,
    CheckRecord,
    Results,
    RunInfo,
    Severity,
    failing_at_or_above,
    iso,
    summarize,
)
from lms_opscheck.reports import alerts, allure_meta, junit, retention, summary, textfile
from lms_opscheck.reports.governance import GOVERNANCE_FILE, governance_snapshot

#: Exit statuses after which a run folder is not worth pointing ``latest`` at.
_NOT_A_RUN = {
    pytest.ExitCode.INTERRUPTED,
    pytest.ExitCode.INTERNAL_ERROR,
    pytest.ExitCode.USAGE_ERROR,
    pytest.ExitCode.NO_TESTS_COLLECTED,
}


def suite_version() -> str:
    try:
        return importlib.metadata.version("lms-opscheck")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def record_of(report: pytest.TestReport) -> CheckRecord | None:
    for name, value in report.user_properties:
        if name == RECORD_PROPERTY:
            return CheckRecord.model_validate_json(str(value))
    return None


class ResultsCollector:
    def __init__(self, config: pytest.Config, env: Environment, run_dir: Path) -> None:
        self.config = config
        self.env = env
        self.run_dir = run_dir
        self.started_at = iso()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.run_id = f"{stamp}-{uuid.uuid4().hex[:6]}"
        self.version = suite_version()
        self.records: list[CheckRecord] = []
        self.results: Results | None = None
        self.push: alerts.PushResult | None = None
        self.written: list[tuple[str, str]] = []
        #: outputs that could not be written, as "what" -> "path: reason" (reported, not raised)
        self.not_written: dict[str, str] = {}
        self.pruned: list[Path] = []

    def info(self) -> dict[str, str]:
        return {
            "env": self.env.name,
            "run_id": self.run_id,
            "suite_version": self.version,
            "selection": self.config.option.markexpr or "",
            "host": socket.gethostname(),
            "owner": self.env.ownership.team,
            "python": platform.python_version(),
            "pytest": pytest.__version__,
        }

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        allure_dir = getattr(self.config.option, "allure_report_dir", None)
        history = self.config.getoption("ops_allure_history")
        if allure_dir:
            self._write(
                "allure",
                Path(allure_dir),
                lambda p: allure_meta.write_meta(
                    self.run_dir,
                    p,
                    self.info(),
                    self.run_id,
                    Path(history).resolve() if history else None,
                ),
            )

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            record = record_of(report)
            if record is not None:
                self.records.append(record)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        fail_on: Severity = self.config.getoption("ops_fail_on")
        interrupted = self.config.stash.get(INTERRUPTED_BY, None) or _stopped_early(session)
        if interrupted is None and exitstatus == pytest.ExitCode.INTERRUPTED:
            interrupted = "SIGINT"
        status = int(exitstatus)
        checks = tuple(sorted(self.records, key=summary.broken_first))
        totals = summarize(checks)
        if status == pytest.ExitCode.TESTS_FAILED and not failing_at_or_above(totals, fail_on):
            status = int(pytest.ExitCode.OK)  # findings below --fail-on are reported, not fatal
            session.exitstatus = pytest.ExitCode.OK
        run = RunInfo(
            id=self.run_id,
            env=self.env.name,
            env_identity=self.env.identity,
            started_at=self.started_at,
            finished_at=iso(),
            suite_version=self.version,
            selection=self.config.option.markexpr or "",
            keywords=self.config.option.keyword or "",
            host=socket.gethostname(),
            exit_status=status,
            interrupted=interrupted,
            fail_on=fail_on,
        )
        catalogue = self.config.stash.get(CATALOGUE, ())
        results = Results(run=run, checks=checks, catalogue=catalogue, summary=totals)
        self.results = results
        self._write("results", self.run_dir / "results.json", results.write, shown=True)
        self._write("junit", self.run_dir / "junit.xml", lambda p: junit.write(results, p))
        extra = getattr(self.config.option, "ops_junit_extra", None)
        if extra:
            self._write("junit", Path(extra), lambda p: junit.write(results, p))
        snapshot = json.dumps(governance_snapshot(self.env, today()), indent=2) + "\n"
        self._write("governance", self.run_dir / GOVERNANCE_FILE, lambda p: p.write_text(snapshot))
        payload = alerts.payload(results, datetime.now(UTC))
        text = json.dumps(payload, indent=2) + "\n"
        self._write("alerts", self.run_dir / "alerts.json", lambda p: p.write_text(text))
        url = self.config.getoption("ops_alertmanager")
        if url:
            self.push = alerts.push(url, payload)
        prom = Path(self.config.getoption("ops_textfile") or self.run_dir / "opscheck.prom")
        self._write("textfile", prom, lambda p: atomic.write_text(p, textfile.render(results)))
        if self.config.getoption("ops_compliance_report"):
            self._compliance_report()
        if checks and exitstatus not in _NOT_A_RUN:
            update_latest_link(self.run_dir)  # dashboards read out/<env>/latest: a real run only
        self._prune()

    def _compliance_report(self) -> None:
        from lms_opscheck.reports.compliance import write_report  # jinja2 only when asked
        from lms_opscheck.reports.runs import RunFolderError

        try:
            paths = write_report([self.run_dir], self.run_dir)
        except (RunFolderError, OSError) as exc:
            # The checks' verdicts stand; a report that cannot be written must not hide them.
            self.not_written["compliance report"] = str(exc)
            return
        self.written += [("report", display(p)) for p in paths]

    def _prune(self) -> None:
        keep_days = self.config.getoption("ops_keep_days")
        explicit_out = bool(self.config.getoption("ops_out"))
        if keep_days is None:
            if explicit_out:
                return  # only the default out/<env>/ layout is pruned unless asked
            keep_days = retention.DEFAULT_KEEP_DAYS
        if keep_days > 0:
            self.pruned = retention.prune(
                self.run_dir.parent, timedelta(days=keep_days), self.run_dir
            )

    def _write(
        self, what: str, path: Path, write: Callable[[Path], object], *, shown: bool = False
    ) -> None:
        """Write one output; a failure is one line in the summary and never changes the exit
        status: cron would read that as "a check failed"."""
        try:
            write(path)
        except OSError as exc:
            self.not_written[what] = f"{display(path)}: {exc.strerror or type(exc).__name__}"
            print(f"ops-check: {what} NOT WRITTEN: {self.not_written[what]}", file=sys.stderr)
            return
        if shown:
            self.written.append((what, display(path)))

    def final_lines(self) -> list[str]:
        if self.results is None:
            return []
        lines = [f"run folder: {display(self.run_dir)}"]
        lines += summary.check_lines(self.results)
        if self.push is not None:
            prefix = "alertmanager" if self.push.ok else "alertmanager PUSH FAILED"
            lines.append(f"{prefix}: {self.push.detail}")
        for what, detail in self.not_written.items():
            lines.append(f"{what} NOT WRITTEN: {detail}")
        if self.pruned:
            lines.append(
                f"retention: removed {len(self.pruned)} run folder(s) older than the limit"
            )
        lines.append(summary.summary_line(self.results, self.written))
        return lines


_COLLECTOR = pytest.StashKey[ResultsCollector]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ops")
    group.addoption(
        "--fail-on",
        dest="ops_fail_on",
        choices=SEVERITIES,
        default="low",
        metavar="SEVERITY",
        help="exit 1 only when a check of this severity or worse failed or could not be "
        "measured (default low: any); lower findings are still reported and alerted",
    )
    group.addoption(
        "--alertmanager",
        dest="ops_alertmanager",
        metavar="URL",
        help="push the run's alerts to this Alertmanager (v2 API); a failed push is only reported",
    )
    group.addoption(
        "--allure-history",
        dest="ops_allure_history",
        metavar="PATH",
        help="Allure 3 history file (JSONL) kept across runs, for trends (goes into allurerc.json)",
    )
    group.addoption(
        "--textfile",
        dest="ops_textfile",
        metavar="PATH",
        help="Prometheus textfile for node_exporter (default <run folder>/opscheck.prom)",
    )
    group.addoption(
        "--compliance-report",
        dest="ops_compliance_report",
        action="store_true",
        default=False,
        help="write compliance.html and compliance.md into the run folder (with earlier weeks)",
    )
    group.addoption(
        "--keep-days",
        dest="ops_keep_days",
        type=int,
        metavar="N",
        help=f"remove this environment's run folders older than N days (default "
        f"{retention.DEFAULT_KEEP_DAYS} for out/<env>/; 0 keeps all)",
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    url = config.getoption("ops_alertmanager")
    if url and (problem := alerts.check_url(url)):
        raise pytest.UsageError(f"--alertmanager {problem}")
    keep = config.getoption("ops_keep_days")
    if keep is not None and keep < 0:
        raise pytest.UsageError("--keep-days must be 0 (keep all) or more")
    env = config.stash.get(ENVIRONMENT, None)
    if hasattr(config, "workerinput") or env is None or is_dry_run(config):
        return
    collector = ResultsCollector(config, env, Path(config.stash[RUN_DIR]))
    config.stash[_COLLECTOR] = collector
    config.pluginmanager.register(collector, "ops-results")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The very last lines of the run: failing checks, then the summary line."""
    collector = config.stash.get(_COLLECTOR, None)
    if collector is None:
        return
    writer: Any = config.get_terminal_writer()
    for line in collector.final_lines():
        writer.line(line)


def _stopped_early(session: pytest.Session) -> str | None:
    """pytest's own early stop (-x, --maxfail, a plugin's stop): the checks after it never ran,
    so the run says it was cut short rather than reading like a whole one."""
    if session.shouldfail:
        return f"--maxfail={session.config.option.maxfail}"
    if session.shouldstop:
        return str(session.shouldstop)
    return None
