"""pytest ``--compliance-report``: write the compliance report into the run folder at the end."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lms_opscheck.fixtures.outputs import REPORTS, RUN_DIR


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("ops").addoption(
        "--compliance-report",
        dest="ops_compliance_report",
        action="store_true",
        default=False,
        help="write compliance.html and compliance.md into the run folder (with earlier weeks)",
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """After results.json and junit.xml are written, before the summary line names the report."""
    config = session.config
    run_dir = config.stash.get(RUN_DIR, None)
    if hasattr(config, "workerinput") or run_dir is None:
        return
    if not config.getoption("ops_compliance_report", False):
        return
    from lms_opscheck.reports.compliance import (
        write_report,  # only when asked: jinja2 costs import time
    )
    from lms_opscheck.reports.runs import RunFolderError

    try:
        paths = write_report([Path(run_dir)], Path(run_dir))
    except (RunFolderError, OSError) as exc:
        # The checks' verdicts stand; a report that cannot be written must not hide them.
        print(f"compliance report: not written: {exc}", file=sys.stderr)
        return
    config.stash[REPORTS] = [*config.stash.get(REPORTS, []), *paths]
