"""The monthly compliance review fails for rows kept past their retention period and for a
critical function with one owner; a rule that examined no row, or no function, is never a pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lms_opscheck.sandbox import stack
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.stacks import sandbox_config

CHECKS = "checks/test_compliance.py"


def review(tmp: Path, config: dict[str, Any], keyword: str) -> SuiteRun:
    tmp.mkdir(parents=True, exist_ok=True)
    env_file = write_env(tmp / "env.yaml", config)
    return run_suite("-m", "monthly", f"--env={env_file}", CHECKS, "-k", keyword, out=tmp / "out")


def test_the_sandbox_keeps_its_retention_rules_and_owners(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    run = review(tmp_path, sandbox_config(shared_stack), "CMP")
    assert {r.outcome for r in run.checks.values()} == {"passed"}, run.output
    assert len(run.checks) == 3  # two retention rules and the owners


def test_rows_older_than_the_retention_period_fail(tmp_path: Path, live_stack: stack.State) -> None:
    with live_stack.postgres.connect("lms") as admin:  # what a broken pruning job leaves behind
        admin.execute(
            "INSERT INTO audit_logs (actor_id, action, created_at) VALUES "
            "(1, 'login', now() - interval '400 days'), (2, 'login', now() - interval '380 days')"
        )
    run = review(tmp_path, sandbox_config(live_stack), "CMP-01")
    result = run.only("test_no_row_is_kept_beyond_its_retention_period[audit_logs.created_at]")
    assert result.outcome == "failed", run.output
    assert (
        f"audit_logs.created_at in postgresql://lms@127.0.0.1:{live_stack.pg_port}/lms: 2 row(s) "
        "older than the retention period 365d; the oldest is 400d old"
    ) in result.message
    other = run.only("test_no_row_is_kept_beyond_its_retention_period[enrollments.enrolled_at]")
    assert other.outcome == "passed"


def test_a_rule_that_examines_no_row_or_no_table_is_not_a_pass(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    rules = [
        {"table": "refresh_tokens", "column": "expires_at", "max_age": "30d"},  # empty table
        {"table": "audit_log", "column": "created_at", "max_age": "365d"},  # no such table
    ]
    config = sandbox_config(shared_stack, compliance={"retention_rules": rules})
    run = review(tmp_path, config, "CMP-01")
    empty = run.only("test_no_row_is_kept_beyond_its_retention_period[refresh_tokens.expires_at]")
    assert empty.outcome == "skipped"
    assert "holds no row with expires_at set: nothing to retain, nothing examined" in empty.message
    missing = run.only("test_no_row_is_kept_beyond_its_retention_period[audit_log.created_at]")
    assert missing.outcome == "error"
    assert 'relation "audit_log" does not exist' in missing.message
    none = review(tmp_path / "none", sandbox_config(shared_stack, compliance=None), "CMP-01")
    assert none.only("test_no_row_is_kept").outcome == "error"  # strict: declared nowhere
    assert "compliance.retention_rules is empty or absent" in none.only("test_no_row").message


def owners_config(functions: Any, strict: bool = False) -> dict[str, Any]:
    return {"name": "selftest", "strict": strict, "ownership": {"functions": functions}}


def test_a_critical_function_with_one_owner_fails(tmp_path: Path) -> None:
    functions = {
        "incident-response": {"owners": ["Ana Lima", "Ben Okafor"]},
        "backups-and-restore": {"owners": ["Dana Kovacs", "dana kovacs"]},  # one person twice
        "status-page": {"owners": ["Eli Haddad"], "critical": False},
    }
    result = review(tmp_path, owners_config(functions), "CMP-02").only("test_every_critical")
    assert result.outcome == "failed"
    assert (
        "1 critical function(s) in selftest with fewer than 2 owners: "
        "backups-and-restore: dana kovacs"
    ) in result.message
    assert "status-page" not in result.message


def test_no_declared_function_is_not_a_pass(tmp_path: Path) -> None:
    empty = review(tmp_path / "a", owners_config({}), "CMP-02").only("test_every_critical")
    assert empty.outcome == "failed" and "declares no critical function" in empty.message
    absent = review(tmp_path / "b", owners_config(None, strict=True), "CMP-02")
    result = absent.only("test_every_critical")
    assert result.outcome == "error"
    assert "ownership.functions is absent from environment 'selftest'" in result.message
