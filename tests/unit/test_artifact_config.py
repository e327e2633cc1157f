"""Artifact locations and drill settings are validated when the file loads: one line, exit 4."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms_opscheck.config import ConfigError, load_environment
from tests.support.runner import run_suite

LONG = "/opt/" + "p" * 300 + "/pg_restore"


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    return load_environment(str(path), environ={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "artifacts:\n  drill_logs: {dir: /x, pattern: 'restore_drill_(.log'}",
            "artifacts.drill_logs.pattern: not a regular expression",
        ),
        (
            "artifacts:\n  drill_logs: {dir: /x, pattern: 'restore_drill_.*\\.log'}",
            "artifacts.drill_logs.pattern: the pattern needs a (?P<stamp>",
        ),
        (
            "artifacts:\n  drill_logs: {dir: /x, pattern: 'r_(?P<stamp>\\d{8}_\\d{6})?\\.log'}",
            "artifacts.drill_logs.pattern: the stamp group must match exactly once",
        ),
        (
            "artifacts:\n  backups: {dir: /x, pattern: 'lms(_(?P<stamp>\\d{8}_\\d{6}))*\\.dump'}",
            "artifacts.backups.pattern: the stamp group must match exactly once",
        ),
        (
            "artifacts:\n  backups: {dir: /x, pattern: '(?:latest|lms_(?P<stamp>\\d+))\\.dump'}",
            "artifacts.backups.pattern: the stamp group must match exactly once",
        ),
        (
            "artifacts:\n  backups: {dir: /x, timezone: Mars/Olympus}",
            "artifacts.backups.timezone: not an IANA time zone name",
        ),
        (
            "artifacts:\n  backups: {dir: /x, archive_timezone: ../../etc/passwd}",
            "artifacts.backups.archive_timezone: not an IANA time zone name",
        ),
        (
            "artifacts:\n  drill_logs: {dir: /x, timezone: 'UTC+2'}",
            "artifacts.drill_logs.timezone: not an IANA time zone name",
        ),
        (
            f"artifacts:\n  backups: {{dir: /x, pg_restore: '{LONG}'}}",
            "artifacts.backups.pg_restore: a path component is longer than 255 bytes",
        ),
        (
            "restore_drill:\n  server: {host: h}\n  bin_dir: '/" + "b" * 300 + "'",
            "restore_drill.bin_dir: a path component is longer than 255 bytes",
        ),
    ],
)
def test_each_problem_is_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    message = str(raised.value)
    assert "\n" not in message and expected in message, message
    assert "Mars/Olympus" not in message and "passwd" not in message


@pytest.mark.parametrize(
    "zone", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT-2"]
)
def test_real_zones_are_accepted(tmp_path: Path, zone: str) -> None:
    env = load(tmp_path, f"artifacts:\n  backups: {{dir: /x, timezone: {zone}}}")
    assert env.artifacts.backups.timezone == zone  # type: ignore[attr-defined]


def test_defaults_read_names_in_utc_and_the_dump_database_from_the_target(tmp_path: Path) -> None:
    env = load(tmp_path, "artifacts:\n  backups: {dir: /x}\n  drill_logs: {dir: /y}")
    backups = env.artifacts.backups  # type: ignore[attr-defined]
    assert backups.timezone == "UTC" and backups.archive_timezone == "UTC"
    assert backups.dbname is None
    assert env.artifacts.drill_logs.timezone == "UTC"  # type: ignore[attr-defined]


def test_a_bad_drill_log_pattern_stops_the_run_with_exit_4_not_13_crashes(tmp_path: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text(
        "name: t\nartifacts:\n  backups: {dir: /x}\n"
        "  drill_logs: {dir: /y, pattern: 'restore_drill_(?P<stamp>\\d+)?\\.log'}\n"
    )
    run = run_suite("-m", "daily or weekly", f"--env={env}", out=tmp_path / "out")
    assert run.exit_code == 4, run.output
    assert "Traceback" not in run.output
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "artifacts.drill_logs.pattern" in lines[0], run.output
