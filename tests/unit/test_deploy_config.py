"""The ``deploy:`` section: bad values are one-line configuration errors (exit 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lms_opscheck.config import ConfigError, load_environment
from tests.support.runner import run_suite


def load(tmp_path: Path, deploy: str) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(f"name: gate\ndeploy:\n{deploy}")
    load_environment(str(path))


@pytest.mark.parametrize(
    ("deploy", "expected"),
    [
        ("  alembic: {}\n", "give exactly one of head (a revision id) or migrations"),
        ("  alembic: {head: a1, migrations: /tmp}\n", "give exactly one of head"),
        ("  alembic: {head: 'a b'}\n", "expected an Alembic revision id"),
        ("  version: {source: {kind: header, header: 'X App'}}\n", "expected an HTTP header name"),
        ("  version: {source: {kind: env}}\n", "kind"),
        ("  version: {source: {path: api/v1/version}}\n", "expected a path such as"),
        ("  version: {source: {key: 'build..version'}}\n", "expected a dotted JSON key"),
        ("  smoke: {account: s@x.example, max_logins: 5}\n", "max_logins"),
    ],
)
def test_a_bad_deploy_key_is_a_configuration_error(
    tmp_path: Path, deploy: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match="deploy") as caught:
        load(tmp_path, deploy)
    assert expected in str(caught.value)


def test_a_bad_deployed_at_is_one_line_and_exit_4(tmp_path: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text("name: gate\n")
    run = run_suite("-m", "post_deploy", f"--env={env}", "--deployed-at=yesterday",
                    out=tmp_path / "out")  # fmt: skip
    assert run.exit_code == 4, run.output
    assert "--deployed-at: 'yesterday' is not an ISO time such as" in run.output
    assert "Traceback" not in run.output


def test_without_a_deploy_section_the_gate_skips_naming_the_keys(tmp_path: Path) -> None:
    env = tmp_path / "env.yaml"
    env.write_text("name: gate\n")
    run = run_suite("-m", "post_deploy", f"--env={env}", "-k", "DEP", "-rs", out=tmp_path / "out")
    assert run.exit_code == 0, run.output
    reasons = {c.control.id: c.message for c in run.results.checks}
    assert "deploy.version is absent" in reasons["DEP-01"]
    assert "is absent" in reasons["DEP-02"]
    assert all(c.outcome == "skipped" for c in run.results.checks)
