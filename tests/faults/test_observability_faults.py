"""Sentry and Grafana checks against small real HTTP servers that answer as the documented APIs
do (tests/support/fake_apis.py): no Sentry or Grafana server is packaged for these machines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.fake_apis import GrafanaData, SentryData, grafana, sentry, sentry_issue
from tests.support.runner import SuiteRun, run_suite, write_env

CHECKS = "checks/test_monitoring.py"
TOKEN = "sntrys-selftest-token-0123456789"
NOW = datetime.now(UTC)


def run(tmp_path: Path, targets: dict[str, Any]) -> SuiteRun:
    config = {"name": "selftest", "timeouts": {"deadline": "4s"}, "targets": targets}
    tmp_path.mkdir(parents=True, exist_ok=True)
    env_file = write_env(tmp_path / "env.yaml", config)
    return run_suite(
        "-m", "daily", f"--env={env_file}", CHECKS, "-k", "MON-06 or MON-07 or MON-08",
        out=tmp_path / "out",
    )  # fmt: skip


def sentry_target(url: str, token: str = TOKEN, **extra: Any) -> dict[str, Any]:
    return {"url": url, "organization": "lms", "projects": ["lms-api"], "token": token, **extra}


def projects() -> dict[str, str]:
    return {"lms-api": "11", "lms-web": "12"}


def test_no_new_sentry_issue_passes(tmp_path: Path) -> None:
    old = sentry_issue(1, "lms-api", NOW - timedelta(days=3))
    data = SentryData(TOKEN, "lms", projects(), [old])
    with sentry(data) as url:
        result = run(tmp_path, {"sentry": sentry_target(url)}).only("test_no_new_unresolved")
    assert result.outcome == "passed", result.message
    issues = [p for p in data.requests if "/issues/" in p]
    assert issues and "firstSeen%3A-24h" in issues[0] and "project=11" in issues[0]


def test_new_unresolved_issues_fail_mon06_naming_them(tmp_path: Path) -> None:
    fresh = [sentry_issue(n, "lms-api", NOW - timedelta(hours=n)) for n in range(1, 4)]
    other = sentry_issue(9, "lms-web", NOW - timedelta(hours=1))  # another project
    resolved = sentry_issue(8, "lms-api", NOW - timedelta(hours=1), status="resolved")
    data = SentryData(TOKEN, "lms", projects(), [*fresh, other, resolved], page_size=2)
    with sentry(data) as url:
        suite = run(tmp_path, {"sentry": sentry_target(url)})
    result = suite.only("test_no_new_unresolved")
    assert result.outcome == "failed", suite.output
    assert "3 new unresolved Sentry issue(s) in lms-api first seen in the last 1d" in result.message
    assert "LMS-API-1 'ZeroDivisionError: division by zero (1)' (3 events" in result.message
    assert "at most 0 allowed" in result.message
    assert sum("/issues/" in p for p in data.requests) == 2  # followed the Link header
    assert (
        TOKEN not in suite.output and TOKEN not in (tmp_path / "out" / "results.json").read_text()
    )


def test_issues_first_seen_before_the_window_are_not_new(tmp_path: Path) -> None:
    # A search that ignores firstSeen: the check filters the window itself.
    data = SentryData(
        TOKEN, "lms", projects(), [sentry_issue(1, "lms-api", NOW - timedelta(days=2))]
    )
    data.honour_first_seen = False
    with sentry(data) as url:
        result = run(tmp_path, {"sentry": sentry_target(url, max_new_issues=0)}).only("test_no_new")
    assert result.outcome == "passed", result.message


def test_unknown_project_or_rejected_token_is_unmeasurable(tmp_path: Path) -> None:
    data = SentryData(TOKEN, "lms", projects())
    with sentry(data) as url:
        wrong_project = run(tmp_path / "a", {"sentry": sentry_target(url, projects=["lms-apl"])})
        wrong_token = run(tmp_path / "b", {"sentry": sentry_target(url, token="not-the-token")})
    project = wrong_project.only("test_no_new_unresolved")
    assert project.outcome == "error"
    assert "no project lms-apl in organization lms (it has lms-api, lms-web)" in project.message
    token = wrong_token.only("test_no_new_unresolved")
    assert token.outcome == "error" and "answered 401: token rejected" in token.message


def test_healthy_grafana_passes(tmp_path: Path) -> None:
    data = GrafanaData(
        TOKEN,
        datasources={
            "prom": ("Prometheus", "prometheus", "OK", "Successfully queried the Prometheus API."),
            "tbl": ("Static", "table-panel", "UNSUPPORTED", ""),
        },
    )
    with grafana(data) as url:
        suite = run(tmp_path, {"grafana": {"url": url, "token": TOKEN}})
    assert suite.only("test_grafana_is_healthy").outcome == "passed", suite.output
    assert suite.only("test_every_grafana_datasource").outcome == "passed", suite.output


def test_grafana_database_failing_and_a_broken_datasource_fail(tmp_path: Path) -> None:
    data = GrafanaData(
        TOKEN,
        database="failing",
        datasources={
            "prom": ("Prometheus", "prometheus", "OK", "Successfully queried the Prometheus API."),
            "pg": ("LMS database", "postgres", "ERROR", "dial tcp 10.0.0.5:5432: connect: refused"),
        },
    )
    with grafana(data) as url:
        suite = run(tmp_path, {"grafana": {"url": url, "token": TOKEN}})
    health = suite.only("test_grafana_is_healthy")
    assert health.outcome == "failed"
    assert f"{url}/api/health answered 503 with database 'failing'" in health.message
    sources = suite.only("test_every_grafana_datasource")
    assert sources.outcome == "failed"
    assert "1 of 2 Grafana data source(s) failing: LMS database (postgres): ERROR dial tcp" in (
        sources.message
    )


def test_datasources_without_health_checks_are_no_data(tmp_path: Path) -> None:
    data = GrafanaData(TOKEN, datasources={"tbl": ("Static", "table-panel", "UNSUPPORTED", "")})
    with grafana(data) as url:
        suite = run(tmp_path, {"grafana": {"url": url, "token": TOKEN}})
    sources = suite.only("test_every_grafana_datasource")
    assert sources.outcome == "error"
    assert f"{url}: no data source has a health check (Static)" in sources.message


def test_absent_sentry_and_grafana_skip_even_when_strict(tmp_path: Path) -> None:
    config = {"name": "selftest", "strict": True}
    env_file = write_env(tmp_path / "env.yaml", config)
    suite = run_suite(
        "-m", "daily", f"--env={env_file}", CHECKS, "-k", "MON-06 or MON-07", out=tmp_path / "out"
    )
    assert {r.outcome for r in suite.checks.values()} == {"skipped"}, suite.output
    assert "optional: targets.grafana is absent" in suite.only("test_grafana_is_healthy").message
