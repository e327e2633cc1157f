"""Bad configuration gets one clear line and exit code 4, never a traceback or a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms_opscheck.config import ConfigError, load_environment
from tests.support.runner import run_suite

GOOD = """
name: t
targets:
  postgres: {host: db-1, port: 5432, password: "${DB_PASSWORD}"}
"""


def load(tmp_path: Path, text: str, **environ: str) -> object:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    return load_environment(str(path), environ=environ)


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("targets: [unclosed", {}, "malformed YAML"),
        ("targets:\n  postgres: {host: db-1, port: abc}", {}, "targets.postgres.port: "),
        (
            "targets:\n  postgres: {host: db-1, pasword: x}",
            {},
            "targets.postgres.pasword: unknown key",
        ),
        (
            "targets:\n  postgres: {port: 5432}",
            {},
            "targets.postgres.host: required key is missing",
        ),
        (GOOD, {}, "targets.postgres.password: environment variable DB_PASSWORD is not set"),
        ("policy: {rpo: soon}", {}, "policy.rpo: expected a duration"),
        ("- a list", {}, "expected a mapping of keys at the top level"),
        (GOOD, {"DB_PASSWORD": "abc"}, "targets.postgres.password: a secret shorter than 4"),
        (
            "artifacts:\n  backups: {host: db-9, dir: /x}",
            {},
            "line 2: artifacts.backups.host: host db-9 is not under hosts: (local)",
        ),
        (
            "targets:\n  api: {replicas: ['http://ops:${PW}@h:8000']}",
            {"PW": "Sup3rSecret"},
            "replica 0 carries credentials in its URL",
        ),
        (
            "hosts:\n  db: {uri: 'paramiko://u:${PW}@h'}",
            {"PW": "Sup3rSecret"},
            "carries a password",
        ),
    ],
)
def test_each_problem_is_one_line_naming_file_key_and_problem(
    tmp_path: Path, text: str, environ: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text, **environ)
    message = str(raised.value)
    assert "\n" not in message
    assert "env.yaml" in message and expected in message
    assert not any(value in message for value in environ.values() if len(value) > 3)


def test_wrong_type_never_echoes_the_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, "targets:\n  redis: {host: r, port: Sup3rSecretValue}")
    assert "Sup3rSecretValue" not in str(raised.value)


def test_interpolation_defaults_and_secrets_stay_hidden(tmp_path: Path) -> None:
    text = GOOD + "timeouts: {connect: '${CONNECT:-3s}'}\n"
    env = load(tmp_path, text, DB_PASSWORD="hunter2-canary")
    assert "hunter2-canary" not in repr(env) and "hunter2-canary" not in str(env)
    assert list(env.secrets()) == ["hunter2-canary"]  # type: ignore[attr-defined]
    assert env.timeouts.connect.total_seconds() == 3  # type: ignore[attr-defined]


def test_environment_is_frozen(tmp_path: Path) -> None:
    env = load(tmp_path, GOOD, DB_PASSWORD="long-enough")
    with pytest.raises(ValueError):
        env.name = "other"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--env=nosuchenv"], "unknown environment 'nosuchenv'; available: "),
        (
            ["-m", "no_such_marker"],
            "unknown marker no_such_marker in -m 'no_such_marker'; cadences: daily, weekly",
        ),
    ],
)
def test_cli_usage_errors_exit_4_with_one_line(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    run = run_suite(*args, "--env=sandbox" if "--env" not in args[0] else "", out=tmp_path)
    assert run.exit_code == 4, run.output
    assert expected in run.output
    assert "Traceback" not in run.output


def test_cli_malformed_file_exits_4_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntargets: {api: [\n")
    run = run_suite(f"--env={bad}", out=tmp_path / "out")
    assert run.exit_code == 4
    assert "bad.yaml" in run.output and "malformed YAML" in run.output
    assert "Traceback" not in run.output
    assert len([line for line in run.stderr.splitlines() if line.strip()]) == 1


def test_checks_without_env_are_a_usage_error(tmp_path: Path) -> None:
    run = run_suite("-m", "daily", out=tmp_path)
    assert run.exit_code == 4
    assert "pass --env NAME" in run.output
