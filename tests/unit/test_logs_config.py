"""Log locations and log policy in the environment file: bad values get one clear line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lms_opscheck.config import ConfigError, load_environment


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    return load_environment(str(path), environ={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "artifacts:\n  app_logs: {dir: /var/log/lms, timezone: Mars/Olympus}",
            "artifacts.app_logs.timezone: not an IANA time zone name",
        ),
        (
            "artifacts:\n  app_logs: {dir: logs}",
            "artifacts.app_logs.dir: an absolute folder path",
        ),
        (
            "artifacts:\n  access_logs: {dir: /var/log, pattern: lms/app.log}",
            "artifacts.access_logs.pattern: a file-name pattern such as app.log",
        ),
        (
            "artifacts:\n  app_logs: {dir: /var/log, host: app-9}",
            "artifacts.app_logs.host: names a host that is not under hosts: (local)",
        ),
        (
            "artifacts:\n  app_logs: {dir: /var/log, formats: [syslog]}",
            "artifacts.app_logs.formats.0: ",
        ),
        ("policy:\n  logs: {daily_window: soon}", "policy.logs.daily_window: expected a duration"),
        (
            "policy:\n  logs: {auth_failure_statuses: [200]}",
            "policy.logs.auth_failure_statuses: HTTP error statuses between 400 and 599",
        ),
        ("policy:\n  logs: {scanner_paths: []}", "policy.logs.scanner_paths: "),
        ("policy:\n  logs: {max_error_ratio: 2}", "policy.logs.max_error_ratio: "),
    ],
)
def test_bad_log_settings_are_one_line_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_documented_example_loads_with_both_log_locations(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "environments" / "prod.example.yaml"
    env = load_environment(
        str(example),
        environ={name: "placeholder" for name in re.findall(r"\$\{(LMS_\w+)", example.read_text())},
    )
    assert env.artifacts.app_logs is not None and env.artifacts.app_logs.timezone == "Europe/Berlin"
    assert env.artifacts.app_logs == env.artifacts.access_logs  # one read serves both families
    assert env.policy.logs.max_lockouts == 5
