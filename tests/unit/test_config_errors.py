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
            "line 2: artifacts.backups.host: names a host that is not under hosts: (local)",
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


# -- issue 9 items 7, 9, 11: bounded YAML, names, strict numbers, sane timeouts ----------------

BOMB = "name: b\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" for n in range(1, 9)
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BOMB, "line 6: more than 50000 values, each alias counted as a copy of its anchor"),
        ("name: r\nloop: &a [*a]\n", "line 2: an alias inside its own anchor"),
        ("name: r\nloop: &a {self: *a}\n", "line 2: an alias inside its own anchor"),
        (
            "name: d\nstrict: true\nx: 1\nstrict: false\n",
            "line 4: duplicate key strict (first at line 2)",
        ),
        (
            "name: d\ntargets:\n  postgres:\n    host: a\n    port: 1\n    port: 2\n",
            "line 6: duplicate key targets.postgres.port (first at line 5)",
        ),
        ("name: d\n" + "x: " + "[" * 40 + "]" * 40 + "\n", "line 2: nested deeper than 32 levels"),
        ("name: t\ndescription: !!python/name:os.system x\n", "line 2: a YAML tag other than"),
        ("name: t\ndescription: *nothing\n", "line 2: malformed YAML: an alias (*name) whose"),
        ('name: "a\\0b"\n', "line 1: name: contains a control character"),
        ("name: /abs\n", "line 1: name: expected 1-64 letters, digits"),
        ("name: ../..\n", "line 1: name: expected 1-64 letters, digits"),
        ("name: " + "x" * 300 + "\n", "line 1: name: expected 1-64 letters, digits"),
        (
            "name: t\ntargets: {postgres: {host: h, port: true}}\n",
            "targets.postgres.port: expected a whole number",
        ),
        (
            "name: t\ntargets: {redis: {host: h, db: 1.5}}\n",
            "targets.redis.db: expected a whole number",
        ),
        (
            "name: t\npolicy: {backup_min_ratio: true}\n",
            "policy.backup_min_ratio: expected a number",
        ),
        ("name: t\ntimeouts: {connect: 0s}\n", "timeouts.connect: a timeout must be at least 1ms"),
        ("name: t\npolicy: {rpo: ３０h}\n", "policy.rpo: expected a duration"),
        ("name: t\ntimeouts: {request: 0}\n", "timeouts.request: a timeout must be at least 1ms"),
        ("name: t\ntimeouts: {request: 36500d}\n", "timeouts.request: a timeout of more than 1h"),
        ("name: t\ntimeouts: {connect: 6m}\n", "timeouts.connect: a timeout of more than 5m"),
        ("name: t\ntimeouts: {deadline: 7h}\n", "timeouts.deadline: a timeout of more than 6h"),
        ("name: t\ntimeouts: {connect: 9s, deadline: 8s}\n", "timeouts.deadline: shorter than"),
        ("name: t\nhosts: {db: {uri: 'ftp://x'}}\n", "hosts.db.uri: expected a testinfra host URI"),
        ("name: t\nhosts: {'d b': {uri: 'local://'}}\n", "hosts: every name under hosts: must be"),
        ("name: t\nownership: {team: ''}\n", "ownership.team: "),
        (
            "name: t\nownership: {runbook_url: 'https://u:p@x/'}\n",
            "ownership.runbook_url: expected",
        ),
        ("kind: Pod\nspec: {}\n", "not an environment file: none of its top-level keys"),
        ("", "the file is empty; start from "),
        ("name: t\nsource: /etc\n", "line 2: source: unknown key"),
    ],
)
def test_each_new_rule_is_one_line_with_the_line_number(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    message = str(raised.value)
    assert "\n" not in message
    assert "env.yaml: " in message and expected in message


@pytest.mark.parametrize(
    "key",
    ["root:$6$Sup3rSecretHash:19000:0:99999:7::", "Sup3r Secret", "x" * 50, "Sup3rSecret.dotted"],
)
def test_an_unknown_key_that_is_not_a_key_name_is_not_printed(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, f"name: t\ntargets:\n  postgres:\n    host: h\n    '{key}': 1\n")
    message = str(raised.value)
    assert message.endswith("line 5: targets.postgres.?: an unknown key (not shown)")
    assert "Sup3r" not in message


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("hosts.db.uri", "hosts: {db: {uri: 'ssh://u:${PW}@h'}}"),
        ("targets.api.replicas", "targets: {api: {replicas: ['https://u:${PW}@h']}}"),
        ("description", "description: 'x ${PW}'"),
    ],
)
def test_a_secret_in_a_printed_key_is_refused_even_with_url_characters(
    tmp_path: Path, where: str, text: str
) -> None:
    # "/", "#" and "?" end a URL's authority: a prefix of the password would be printed as host.
    secret = "Sup3r/Se#cr?et"
    env = f"name: t\n{text}\ncredentials: {{pw: '${{PW}}'}}\n"
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, env, PW=secret)
    message = str(raised.value)
    assert where in message
    assert "Sup3r" not in message


def test_anchors_aliases_and_merge_keys_within_bounds_are_accepted(tmp_path: Path) -> None:
    env = load(
        tmp_path,
        "name: t\n"
        "targets:\n"
        "  redis: &redis {host: r1, port: 6379}\n"
        "  celery: {broker: {<<: *redis, db: 1}}\n"
        "waivers:\n"
        "  - &w {control: HLT-01, reason: r, ticket: OPS-1, approver: a, expires: in 9d}\n"
        "  - {<<: *w, control: HLT-02}\n",
    )
    assert env.targets.celery.broker.host == "r1"  # type: ignore[attr-defined]
    assert env.targets.celery.broker.db == 1  # type: ignore[attr-defined]
    assert [w.control for w in env.waivers] == ["HLT-01", "HLT-02"]  # type: ignore[attr-defined]


def test_ports_and_counts_from_variables_are_whole_numbers(tmp_path: Path) -> None:
    text = "name: t\ntargets: {postgres: {host: h, port: '${P}'}}\n"
    assert load(tmp_path, text, P="5432").targets.postgres.port == 5432  # type: ignore[attr-defined]
    for bad in ("true", "5432.0", "0x10", "１２"):
        with pytest.raises(ConfigError, match="port: expected a whole number"):
            load(tmp_path, text, P=bad)


def test_a_file_over_one_mib_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    with path.open("wb") as stream:
        stream.write(b"name: big\n")
        stream.truncate(64 << 20)  # sparse: 64 MiB of NULs
    with pytest.raises(ConfigError, match=r"env\.yaml: larger than 1024 KiB"):
        load_environment(str(path), environ={})


def test_a_file_name_that_is_not_an_environment_name_asks_for_name(tmp_path: Path) -> None:
    path = tmp_path / "my env.yaml"
    path.write_text("description: x\n")
    with pytest.raises(ConfigError, match="name: the file name does not make an environment name"):
        load_environment(str(path), environ={})


@pytest.mark.parametrize("name", ["../..", "/abs"])
def test_cli_name_outside_out_exits_4_and_writes_nothing(tmp_path: Path, name: str) -> None:
    env = tmp_path / "env.yaml"
    env.write_text(f"name: {name}\n")
    before = set(tmp_path.parent.iterdir())
    run = run_suite(f"--env={env}", "-m", "daily", out=tmp_path / "out")
    assert run.exit_code == 4, run.output
    assert "name: expected 1-64 letters" in run.stderr
    assert len([line for line in run.stderr.splitlines() if line.strip()]) == 1
    assert "INTERNALERROR" not in run.output
    assert set(tmp_path.parent.iterdir()) == before
    assert not (tmp_path / "out").exists()


def test_cli_unknown_environment_says_how_to_create_it(tmp_path: Path) -> None:
    run = run_suite("--env=sandbx", "-m", "daily", out=tmp_path)
    assert run.exit_code == 4, run.output
    assert "unknown environment 'sandbx' (did you mean 'sandbox'?)" in run.stderr
    assert (
        "to create it: cp " in run.stderr
        and "prod.example.yaml environments/sandbx.yaml" in run.stderr
    )
