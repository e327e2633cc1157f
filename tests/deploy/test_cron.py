"""The crontab: five valid time fields, a command bash accepts, and the exit codes it reports."""

from __future__ import annotations

import fcntl
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.deploy.conftest import DEPLOY, tool

CRONTAB = DEPLOY / "cron" / "lms-opscheck.crontab"
#: (lowest, highest, names) per field: minute, hour, day of month, month, day of week.
FIELDS = (
    (0, 59, ()),
    (0, 23, ()),
    (1, 31, ()),
    (1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    (0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)


@dataclass(frozen=True)
class Entry:
    fields: tuple[str, ...]
    command: str


def entries(path: Path = CRONTAB) -> list[Entry]:
    found = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"[A-Z_]+=", line):  # SHELL=, PATH=, MAILTO=
            continue
        parts = line.split(None, 5)
        assert len(parts) == 6, f"not five time fields and a command: {line}"
        found.append(Entry(tuple(parts[:5]), parts[5]))
    return found


def valid_field(text: str, lowest: int, highest: int, names: tuple[str, ...]) -> bool:
    """A cron time field: *, numbers or names, ranges, lists and steps within the bounds."""

    def value(token: str) -> int | None:
        if token.isdigit():
            return int(token)
        return names.index(token.lower()) + lowest if token.lower() in names else None

    for item in text.split(","):
        base, slash, step = item.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            return False
        if base == "*":
            continue
        low, dash, high = base.partition("-")
        first, last = value(low), value(high) if dash else value(low)
        if first is None or last is None or not lowest <= first <= last <= highest:
            return False
    return True


def test_every_entry_has_five_valid_time_fields() -> None:
    found = entries()
    assert [e.fields for e in found] == [("10", "6", "*", "*", "*"), ("40", "6", "*", "*", "1")]
    for entry in found:
        for text, (lowest, highest, names) in zip(entry.fields, FIELDS, strict=True):
            assert valid_field(text, lowest, highest, names), (text, entry)


@pytest.mark.parametrize(
    "field", ["60", "*/0", "5-3", "mon-xyz", "1,,2", "24"], ids=lambda f: f"bad-{f}"
)
def test_the_field_check_refuses_what_cron_refuses(field: str) -> None:
    assert not valid_field(field, 0, 23, FIELDS[4][2])


def test_every_command_parses_with_bash_and_has_no_percent_sign() -> None:
    bash = tool("bash", "bash")
    for entry in entries():
        # cron turns an unescaped % into a newline and feeds the rest to stdin
        assert "%" not in entry.command, entry.command
        result = subprocess.run([bash, "-n", "-c", entry.command], capture_output=True, text=True)
        assert result.returncode == 0 and not result.stderr, result.stderr


def test_the_commands_are_bounded_locked_and_use_the_virtualenv() -> None:
    daily, weekly = entries()
    for entry in (daily, weekly):
        assert "flock -n " in entry.command and "timeout -s TERM -k 60 " in entry.command
        assert " /opt/lms-opscheck/venv/bin/lms-opscheck -m " in entry.command
        assert ". /etc/lms-opscheck/prod.env" in entry.command
    assert "-m daily --env prod" in daily.command
    assert (
        "--textfile /var/lib/node_exporter/textfile_collector/opscheck_prod.prom" in daily.command
    )
    assert "-m weekly --env prod --compliance-report" in weekly.command
    assert "--textfile" not in weekly.command  # the daily run owns the env's textfile


# --- what the line does, with its paths moved into a temp folder and the suite replaced by a
# --- stand-in that behaves as the suite does at each exit code

STUB = """#!/bin/bash
echo "$@" > "{args}"
[ -n "$LMS_MONITOR_DB_PASSWORD" ] || {{ echo "missing secret"; exit 4; }}
trap 'echo "ops-check prod: INTERRUPTED by SIGTERM after 3 check(s)"; exit 2' TERM
echo "ops-check prod: running"
if [ "$STUB_SLEEP" ]; then sleep "$STUB_SLEEP" & wait; fi
echo "ops-check prod: summary line (exit $STUB_EXIT)"
exit "$STUB_EXIT"
"""


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    mail: str  # what cron would mail: everything the line prints
    log: str
    args: str


def run_daily_line(tmp_path: Path, exit_code: int, sleep: float = 0, bound: str = "20m") -> Outcome:
    tool("flock", "util-linux")
    tool("timeout", "coreutils")
    command = entries()[0].command
    state, log = tmp_path / "state", tmp_path / "prod.log"
    state.mkdir(exist_ok=True)
    (tmp_path / "prod.env").write_text("LMS_MONITOR_DB_PASSWORD=not-a-real-one\n")
    stub = tmp_path / "lms-opscheck"
    stub.write_text(STUB.format(args=tmp_path / "args"))
    stub.chmod(0o755)
    for old, new in [
        ("/opt/lms-opscheck/venv/bin/lms-opscheck", str(stub)),
        ("/var/lib/lms-opscheck", str(state)),
        ("/etc/lms-opscheck/prod.env", str(tmp_path / "prod.env")),
        ("/var/log/lms-opscheck/prod.log", str(log)),
        (" 20m ", f" {bound} "),
    ]:
        assert old in command
        command = command.replace(old, new)
    result = subprocess.run(
        ["/bin/bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "STUB_EXIT": str(exit_code), "STUB_SLEEP": str(sleep or "")},
    )
    args = (tmp_path / "args").read_text() if (tmp_path / "args").exists() else ""
    return Outcome(result.returncode, result.stdout + result.stderr, log.read_text(), args)


def test_a_healthy_run_sends_no_mail(tmp_path: Path) -> None:
    outcome = run_daily_line(tmp_path, 0)
    assert outcome.mail == "" and outcome.exit_code == 0
    assert "summary line (exit 0)" in outcome.log
    assert "-m daily --env prod --fail-on high --textfile" in outcome.args


def test_a_finding_mails_the_exit_code_and_the_summary_line(tmp_path: Path) -> None:
    outcome = run_daily_line(tmp_path, 1)
    assert outcome.mail.startswith("lms-opscheck prod daily: exit 1\n")
    assert "summary line (exit 1)" in outcome.mail
    assert "not-a-real-one" not in outcome.mail + outcome.log


def test_a_run_still_holding_the_lock_makes_the_next_one_exit_75(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    with (tmp_path / "state" / "prod.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        outcome = run_daily_line(tmp_path, 0)
    assert outcome.mail.startswith("lms-opscheck prod daily: exit 75\n")
    assert outcome.args == ""  # the suite never started


def test_a_run_past_its_bound_is_stopped_with_sigterm_and_reports_124(tmp_path: Path) -> None:
    outcome = run_daily_line(tmp_path, 0, sleep=30, bound="1")
    assert outcome.mail.startswith("lms-opscheck prod daily: exit 124\n")
    assert "INTERRUPTED by SIGTERM" in outcome.log  # the suite's own SIGTERM path ran
