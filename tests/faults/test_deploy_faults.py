"""The post-deploy gate (DEP-01..05) against real sandbox processes broken the way deploys break:
a replica on the wrong release, a schema behind head or branched, a login that fails, a profile
served without a token, and repeated gate runs that must not hammer the login."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from lms_opscheck.sandbox import accounts, monitoring, stack
from lms_opscheck.sandbox.schema import ALEMBIC_REVISION
from lms_opscheck.sandbox.state import MIGRATIONS
from tests.support.prometheus import MISSING, running_prometheus, scraped_after, traffic_counted
from tests.support.replica_api import Replica, replica_api
from tests.support.runner import CheckResult, SuiteRun, run_suite, write_env
from tests.support.stacks import sandbox_config

VERSION_CHECK = "test_replica_runs_the_expected_release"
HEAD_CHECK = "test_database_is_at_the_expected_alembic_head"
ME_CHECK = "test_replica_refuses_the_profile_without_a_token"
LOGIN_CHECK = "test_synthetic_account_logs_in_and_reads_its_profile"
TOKEN_CANARY = "tok-canary-3b9f-"


def gate(
    tmp_path: Path,
    state: stack.State,
    *args: str,
    name: str = "run",
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> SuiteRun:
    env_file = write_env(tmp_path / f"{name}.yaml", sandbox_config(state, **overrides))
    return run_suite("-m", "post_deploy", f"--env={env_file}", *args, out=tmp_path / name,
                     env=env)  # fmt: skip


def with_replicas(*urls: str) -> dict[str, Any]:
    return {"targets": {"api": {"replicas": list(urls)}}}


def everything_written(suite: SuiteRun) -> str:
    files = [p for p in suite.run_dir.rglob("*") if p.is_file()]
    return suite.output + "".join(p.read_text(errors="replace") for p in files)


@pytest.fixture
def replica(shared_stack: stack.State, tmp_path: Path) -> Iterator[Replica]:
    """A replica of its own: a fresh login limiter, faults that touch no other test."""
    with replica_api(shared_stack, tmp_path / "replica", token_prefix=TOKEN_CANARY) as started:
        yield started


# -- a healthy deploy -----------------------------------------------------------------------


def test_a_healthy_sandbox_passes_the_whole_gate_and_prints_no_secret(
    tmp_path: Path, shared_stack: stack.State, replica: Replica
) -> None:
    suite = gate(tmp_path, shared_stack, "-rA", **with_replicas(replica.url))
    ids = {c.control.id for c in suite.results.checks}
    assert {"DEP-01", "DEP-02", "DEP-03", "DEP-04", "HLT-01", "HLT-02", "SEC-05"} <= ids
    bad = [(c.control.id, c.outcome) for c in suite.results.checks if c.outcome not in
           ("passed", "skipped")]  # fmt: skip
    assert suite.exit_code == 0 and not bad, suite.output
    assert replica.logins() == 1
    written = everything_written(suite)
    assert shared_stack.smoke_password not in written and TOKEN_CANARY not in written
    assert accounts.SMOKE_EMAIL not in written  # the account is named by its credentials key


# -- DEP-01: the release every replica runs ------------------------------------------------


@pytest.mark.parametrize(
    ("source", "missing"),
    [
        ({"kind": "endpoint"}, "answered 404"),
        ({"kind": "header"}, "no X-App-Version header in the answer"),
        ({"kind": "metrics"}, "no app_info series with a version label"),
    ],
)
def test_one_replica_on_a_wrong_release_fails_and_one_without_a_version_errors(
    tmp_path: Path, shared_stack: stack.State, source: dict[str, str], missing: str
) -> None:
    with (
        replica_api(shared_stack, tmp_path / "a") as wrong,
        replica_api(shared_stack, tmp_path / "b") as silent,
    ):
        (wrong.faults / "version").write_text("2026.10.9")
        (silent.faults / "version").write_text("none")
        api = f"http://127.0.0.1:{shared_stack.api_port}"
        suite = gate(
            tmp_path, shared_stack, "-k", "DEP-01", "--expect-version", accounts.VERSION,
            deploy={"version": {"source": source}}, **with_replicas(api, wrong.url, silent.url),
        )  # fmt: skip
    assert suite.only(f"{VERSION_CHECK}[{api}]").outcome == "passed"
    failed = suite.only(f"{VERSION_CHECK}[{wrong.url}]")
    assert failed.outcome == "failed"
    assert f"{wrong.url} runs '2026.10.9' (" in failed.message
    assert f"expected '{accounts.VERSION}' (--expect-version)" in failed.message
    errored = suite.only(f"{VERSION_CHECK}[{silent.url}]")
    assert errored.outcome == "error" and silent.url in errored.message
    assert missing in errored.message
    assert suite.exit_code == 1


def test_no_expected_version_skips_saying_how_to_give_one_and_errors_when_strict(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    unset = {"deploy": {"version": {"expected": None}}}
    lax = gate(tmp_path, shared_stack, "-k", "DEP-01", name="lax", strict=False, **unset)
    check = lax.only(VERSION_CHECK)
    assert check.outcome == "skipped"
    assert "pass --expect-version VERSION, set $LMS_EXPECTED_VERSION" in check.message
    strict = gate(tmp_path, shared_stack, "-k", "DEP-01", name="strict", **unset)
    assert strict.only(VERSION_CHECK).outcome == "error" and strict.exit_code != 0
    variable = gate(tmp_path, shared_stack, "-k", "DEP-01", name="var",
                    env={"LMS_EXPECTED_VERSION": "2027.1.0"}, **unset)  # fmt: skip
    check = variable.only(VERSION_CHECK)
    assert check.outcome == "failed"
    assert f"runs '{accounts.VERSION}'" in check.message
    assert "expected '2027.1.0' ($LMS_EXPECTED_VERSION)" in check.message


# -- DEP-02: the schema at the release's Alembic head --------------------------------------


def release_migrations(tmp_path: Path, *extra: tuple[str, str]) -> Path:
    """The sample app's revisions plus ``extra`` (revision id, down_revision source)."""
    folder = tmp_path / "versions"
    shutil.copytree(MIGRATIONS, folder)
    for rid, down in extra:
        (folder / f"{rid}.py").write_text(
            f'"""{rid}."""\nrevision = "{rid}"\ndown_revision = {down}\n\n'
            "def upgrade() -> None:\n    pass\n"
        )
    return folder


def alembic(folder: Path | str) -> dict[str, Any]:
    return {"deploy": {"alembic": {"migrations": str(folder)}}}


def test_a_database_behind_the_releases_head_fails(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    folder = release_migrations(tmp_path, ("0014_course_tags", f'"{ALEMBIC_REVISION}"'))
    suite = gate(tmp_path, shared_stack, "-k", "DEP-02", **alembic(folder))
    check = suite.only(HEAD_CHECK)
    assert check.outcome == "failed"
    where = f"alembic_version in postgresql://lms@127.0.0.1:{shared_stack.pg_port}/lms"
    assert f"{where} is at {ALEMBIC_REVISION}, behind the head by 1 revision(s)" in check.message
    assert f"expected 0014_course_tags (head of {folder})" in check.message


def test_a_branch_in_the_migration_graph_fails_naming_both_heads(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    down = f'"{ALEMBIC_REVISION}"'
    folder = release_migrations(tmp_path, ("0014_tags", down), ("0014_badges", down))
    suite = gate(tmp_path, shared_stack, "-k", "DEP-02", **alembic(folder))
    check = suite.only(HEAD_CHECK)
    assert check.outcome == "failed"
    assert f"head of {folder} has 2 heads (0014_badges, 0014_tags)" in check.message


@pytest.fixture
def lms_database(shared_stack: stack.State) -> Iterator[Any]:
    """A superuser session on the shared database; alembic_version is restored afterwards."""
    with shared_stack.postgres.connect("lms") as conn:
        try:
            yield conn
        finally:
            conn.execute("DROP TABLE IF EXISTS alembic_version")
            conn.execute("ALTER TABLE IF EXISTS alembic_moved RENAME TO alembic_version")
            conn.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num varchar(64) "
                         "PRIMARY KEY)")  # fmt: skip
            conn.execute("DELETE FROM alembic_version")
            conn.execute("INSERT INTO alembic_version VALUES (%s)", (ALEMBIC_REVISION,))
            conn.execute("ALTER TABLE alembic_version OWNER TO lms")


def test_a_merge_revision_is_one_head_and_a_database_at_it_passes(
    tmp_path: Path, shared_stack: stack.State, lms_database: Any
) -> None:
    down = f'"{ALEMBIC_REVISION}"'
    folder = release_migrations(
        tmp_path, ("0014_tags", down), ("0014_badges", down),
        ("0015_merge", '("0014_tags", "0014_badges")'),
    )  # fmt: skip
    behind = gate(tmp_path, shared_stack, "-k", "DEP-02", name="behind", **alembic(folder))
    assert "behind the head by 3 revision(s)" in behind.only(HEAD_CHECK).message
    lms_database.execute("UPDATE alembic_version SET version_num = '0015_merge'")
    suite = gate(tmp_path, shared_stack, "-k", "DEP-02", name="merged", **alembic(folder))
    assert suite.only(HEAD_CHECK).outcome == "passed", suite.output


def test_an_empty_two_row_or_missing_alembic_table_never_passes(
    tmp_path: Path, shared_stack: stack.State, lms_database: Any
) -> None:
    lms_database.execute("INSERT INTO alembic_version VALUES ('0012_webhooks_and_reviews')")
    two = gate(tmp_path, shared_stack, "-k", "DEP-02", name="two").only(HEAD_CHECK)
    assert two.outcome == "failed" and "holds 2 revisions (0012_webhooks_and_reviews, 0013" in (
        two.message
    )
    lms_database.execute("DELETE FROM alembic_version")
    empty = gate(tmp_path, shared_stack, "-k", "DEP-02", name="empty").only(HEAD_CHECK)
    assert empty.outcome == "failed" and "holds no row" in empty.message
    lms_database.execute("ALTER TABLE alembic_version RENAME TO alembic_moved")
    gone = gate(tmp_path, shared_stack, "-k", "DEP-02", name="gone").only(HEAD_CHECK)
    assert gone.outcome == "error" and "no table alembic_version" in gone.message


def test_an_empty_or_missing_migrations_folder_is_an_error_not_a_pass(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    (tmp_path / "empty").mkdir()
    empty = gate(tmp_path, shared_stack, "-k", "DEP-02", name="e", **alembic(tmp_path / "empty"))
    assert empty.only(HEAD_CHECK).outcome == "error"
    assert "no revision files" in empty.only(HEAD_CHECK).message
    gone = gate(tmp_path, shared_stack, "-k", "DEP-02", name="g", **alembic(tmp_path / "nope"))
    assert gone.only(HEAD_CHECK).outcome == "error"
    assert "cannot list the folder" in gone.only(HEAD_CHECK).message


# -- DEP-03 and DEP-04: the API's auth after the deploy ----------------------------------------


def test_a_profile_served_without_a_token_fails(
    tmp_path: Path, shared_stack: stack.State, replica: Replica
) -> None:
    (replica.faults / "auth_me_open").write_text("1")
    suite = gate(tmp_path, shared_stack, "-k", "DEP-03", **with_replicas(replica.url))
    check = suite.only(ME_CHECK)
    assert check.outcome == "failed"
    assert f"GET {replica.url}/api/v1/auth/me without a token answered 200" in check.message
    assert "expected 401" in check.message and replica.logins() == 0


def test_a_wrong_password_fails_naming_the_target_and_status_once(
    tmp_path: Path, shared_stack: stack.State, replica: Replica
) -> None:
    suite = gate(
        tmp_path, shared_stack, "-k", "DEP-04", "-rA", credentials={"smoke_password": "wrong-pw"},
        **with_replicas(replica.url),
    )  # fmt: skip
    check = suite.only(LOGIN_CHECK)
    assert check.outcome == "failed"
    assert (
        f"POST {replica.url}/api/v1/auth/login as the synthetic account "
        "(credentials.smoke_password) answered 401 "
    ) in check.message
    assert "Invalid email or password" in check.message
    assert "expected 200 with an access token (not retried)" in check.message
    assert replica.logins() == 1
    assert "wrong-pw" not in everything_written(suite)


def test_a_login_answering_500_fails(
    tmp_path: Path, shared_stack: stack.State, replica: Replica
) -> None:
    (replica.faults / "login_500").write_text("1")
    suite = gate(tmp_path, shared_stack, "-k", "DEP-04", **with_replicas(replica.url))
    check = suite.only(LOGIN_CHECK)
    assert check.outcome == "failed" and "answered 500" in check.message


def test_repeated_gate_runs_stay_within_the_login_budget(
    tmp_path: Path, shared_stack: stack.State, replica: Replica
) -> None:
    runs = [
        gate(tmp_path, shared_stack, "-k", "DEP-04", name=f"run{n}", **with_replicas(replica.url))
        for n in range(4)
    ]
    assert [r.only(LOGIN_CHECK).outcome for r in runs] == ["passed", "passed", "error", "error"]
    assert replica.logins() == 2  # counted by the API itself, in its request log
    refused = runs[2].only(LOGIN_CHECK).message
    assert "login not attempted: 2 login(s) by the gate in the last 1m" in refused
    assert "budget deploy.smoke.max_logins=2" in refused and "allowed again at " in refused
    lax = gate(tmp_path, shared_stack, "-k", "DEP-04", name="lax", strict=False,
               **with_replicas(replica.url))  # fmt: skip
    assert lax.only(LOGIN_CHECK).outcome == "skipped" and replica.logins() == 2


def test_a_429_is_reported_with_retry_after_and_later_runs_wait_for_it(
    tmp_path: Path, shared_stack: stack.State, replica: Replica
) -> None:
    with httpx.Client(timeout=5) as client:  # someone else locked the runner's IP out
        for _ in range(5):
            client.post(replica.url + "/api/v1/auth/login", json={"email": "x", "password": "y"})
    first = gate(tmp_path, shared_stack, "-k", "DEP-04", name="first",
                 **with_replicas(replica.url))  # fmt: skip
    check = first.only(LOGIN_CHECK)
    assert check.outcome == "error"
    assert re.search(
        r"answered 429 with Retry-After 8\d\ds: the login rate limit is spent; "
        "not retried",
        check.message,
    ), check.message
    second = gate(tmp_path, shared_stack, "-k", "DEP-04", name="second",
                  **with_replicas(replica.url))  # fmt: skip
    assert "the API answered 429 at " in second.only(LOGIN_CHECK).message
    assert replica.logins() == 6  # five of someone else's, one of the gate's


# -- DEP-05: the error rate since the deploy, from a real Prometheus ----------------------------


@pytest.mark.skipif(monitoring.binary() is None, reason=MISSING)
def test_error_rate_since_the_deploy_against_the_baseline_from_prometheus(
    tmp_path: Path, shared_stack: stack.State, replica: Replica
) -> None:
    port = int(replica.url.rsplit(":", 1)[1])
    with running_prometheus(tmp_path / "prom", port) as url:
        config = {"targets": {"api": {"replicas": [replica.url]}, "prometheus": {"url": url}}}

        def run(name: str, deployed_at: float) -> CheckResult:
            at = datetime.fromtimestamp(deployed_at, UTC).isoformat()
            suite = gate(tmp_path, shared_stack, "-k", "DEP-05", f"--deployed-at={at}",
                         name=name, **config)  # fmt: skip
            return suite.only("test_error_rate_since_the_deploy")

        traffic_counted(url, port)  # the baseline: healthy requests before the deploy
        deployed = time.time()
        traffic_counted(url, port)
        healthy = run("healthy", deployed)
        assert healthy.outcome == "passed", healthy.message
        (replica.faults / "health_500").write_text("1")  # the release answers 500
        traffic_counted(url, port)
        broken = run("broken", deployed)
        assert broken.outcome == "failed"
        assert re.search(rf"{url}: \d+\.\d\d% of \d+ requests failed \(5xx\) since the deploy "
                         r"at .+ \(--deployed-at\); limit 0\.50% = the baseline 0\.00% over 15m",
                         broken.message), broken.message  # fmt: skip
        quiet_since = time.time()
        scraped_after(url, port, quiet_since + 2)  # scrapes of /metrics only: no user traffic
        quiet = run("quiet", quiet_since)
        assert quiet.outcome == "error" and "no traffic since the deploy at" in quiet.message


def test_the_fault_cli_deploys_a_wrong_release_and_clear_restores_it(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "lms_opscheck.sandbox", *args, "--root", str(shared_stack.dir)],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return done.stdout

    version_url = f"http://127.0.0.1:{shared_stack.api_port}{accounts.VERSION_PATH}"
    try:
        cli("fault", "version", "2026.10.9")
        assert httpx.get(version_url, timeout=3).json()["version"] == "2026.10.9"
        assert "version 2026.10.9" in cli("fault", "list")
        suite = gate(tmp_path, shared_stack, "-k", "DEP-01")
        assert suite.only(VERSION_CHECK).outcome == "failed"
        assert f"runs '2026.10.9' ({version_url} (" in suite.only(VERSION_CHECK).message
    finally:
        cli("fault", "clear")
    assert httpx.get(version_url, timeout=3).json()["version"] == accounts.VERSION
