"""What each reader of a run sees: GitLab, Jenkins, cron mail, Allure, Prometheus, selection.

Every run here is a real suite run (subprocess) against a real sandbox stack.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lms_opscheck.record import read_results
from lms_opscheck.reports import retention
from lms_opscheck.sandbox import stack
from lms_opscheck.sandbox.processes import stop
from tests.support import junit_readers
from tests.support.runner import REPO, SuiteRun, run_suite, write_env
from tests.support.stacks import black_hole, closed_port, sandbox_config

CORE = {"api": "HLT-01", "postgres": "HLT-03", "redis": "HLT-04"}


def suite(tmp_path: Path, config: dict[str, object], *args: str) -> SuiteRun:
    tmp_path.mkdir(parents=True, exist_ok=True)
    env_file = write_env(tmp_path / "env.yaml", config)
    return run_suite(*args, f"--env={env_file}", out=tmp_path / "out")


@pytest.mark.parametrize("component", sorted(CORE))
def test_a_stopped_core_component_pages_as_a_critical_unmeasurable_control(
    tmp_path: Path, live_stack: stack.State, component: str
) -> None:
    stop({"api": live_stack.api_pid, "redis": live_stack.redis_pid}.get(component, 0))
    if component == "postgres":
        live_stack.postgres.stop()
    run = suite(tmp_path, sandbox_config(live_stack), "-m", "daily")
    assert run.exit_code == 1, run.output
    results = run.results
    control = CORE[component]
    unmeasured = [c for c in results.checks if c.control.id == control]
    assert unmeasured and all(c.outcome == "error" for c in unmeasured), run.output
    assert results.summary.by_severity["critical"].error >= 1
    assert results.summary.worst == "critical"
    assert run.last_line.startswith("ops-check selftest: CRITICAL ("), run.last_line
    assert "unmeasurable" in run.last_line
    assert f"ERROR  {control} [critical] could not measure (" in run.stdout
    assert "could not measure: could not measure" not in run.stdout
    assert "Traceback" not in run.output


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory, shared_stack: stack.State) -> SuiteRun:
    """One failure (HLT-06, latency SLO 1ms), one error (PostgreSQL on a closed port), one waived
    check (two workers required, one runs, waived)."""
    tmp = tmp_path_factory.mktemp("mixed")
    config = sandbox_config(
        shared_stack,
        policy={"api_latency": "1ms"},
        targets={"postgres": {"port": closed_port()}, "celery": {"min_workers": 2}},
        waivers=[
            {
                "control": "HLT-05",
                "reason": "second worker host is being rebuilt",
                "ticket": "OPS-5",
                "approver": "Jane Doe",
                "expires": "in 30d",
            }
        ],
    )
    return suite(tmp, config, "-m", "daily", "-k", "HLT")


def test_gitlab_shows_the_headline_as_the_first_line_of_each_verdict(mixed_run: SuiteRun) -> None:
    cases = junit_readers.gitlab(mixed_run.run_dir / "junit.xml")
    failed = next(c for n, c in cases.items() if n.startswith("HLT-06 "))
    error = next(c for n, c in cases.items() if n.startswith("HLT-03 "))
    waived = next(c for n, c in cases.items() if n.startswith("HLT-05 "))
    assert failed.status == "failed" and isinstance(failed.system_output, str)
    first = failed.system_output.splitlines()[0]
    assert first.startswith("HLT-06 [high] target unhealthy: http://127.0.0.1:")
    assert "the latency SLO is 1ms" in first and "| runbook: https://" in first
    assert "measured: latency = " in failed.system_output
    assert "Traceback" not in failed.system_output and "def test_" not in failed.system_output
    assert error.status == "error" and isinstance(error.system_output, str)
    assert error.system_output.startswith("HLT-03 [critical] could not measure (unreachable): ")
    assert "postgresql://lms@127.0.0.1:" in error.system_output
    assert waived.status == "skipped" and isinstance(waived.system_output, str)
    assert waived.system_output.startswith("HLT-05 [critical] target unhealthy: ")
    assert "waived by OPS-5 (approved by Jane Doe) until" in waived.system_output
    assert failed.classname == "opscheck.system_health"


def test_jenkins_shows_the_headline_as_error_message_and_evidence_as_stacktrace(
    mixed_run: SuiteRun,
) -> None:
    cases = junit_readers.jenkins(mixed_run.run_dir / "junit.xml")
    failed = next(c for n, c in cases.items() if n.startswith("HLT-06 "))
    error = next(c for n, c in cases.items() if n.startswith("HLT-03 "))
    waived = next(c for n, c in cases.items() if n.startswith("HLT-05 "))
    assert failed.status == "FAILED" and failed.error_details is not None
    assert failed.error_details.startswith("HLT-06 [high] target unhealthy: ")
    assert failed.error_stack_trace is not None and "measured: " in failed.error_stack_trace
    assert (
        error.error_details is not None and "could not measure (unreachable)" in error.error_details
    )
    assert waived.status == "SKIPPED" and waived.skipped_message is not None
    assert waived.skipped_message.startswith("waived by OPS-5 until ")
    assert "HLT-05 [critical]" in waived.skipped_message


def test_cron_mail_is_one_line_per_failing_check_then_the_summary(mixed_run: SuiteRun) -> None:
    run = mixed_run
    assert run.exit_code == 1, run.output
    assert "Traceback" not in run.output and "AssertionError" not in run.output
    assert "_____" not in run.stdout  # no failure sections
    lines = run.stdout.splitlines()
    failing = [ln for ln in lines if ln.startswith(("  FAILED ", "  ERROR "))]
    assert len(failing) == sum(1 for c in run.results.checks if c.alerting)
    assert failing[0].startswith("  ERROR  HLT-03 [critical]")  # critical before high
    assert any(line.startswith("  FAILED HLT-06 [high]") for line in failing)
    assert any(ln.startswith("  WAIVED HLT-05 by OPS-5 until") for ln in lines)
    assert run.last_line.startswith("ops-check selftest: CRITICAL (")
    assert run.last_line.endswith("/results.json")


def test_k_selects_one_control(tmp_path: Path, shared_stack: stack.State) -> None:
    run = suite(tmp_path, sandbox_config(shared_stack), "-m", "daily", "-k", "BKP-03")
    assert run.exit_code == 0, run.output
    assert {c.control.id for c in run.results.checks} == {"BKP-03"}


def test_fail_on_keeps_a_lower_finding_from_failing_the_run(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    config = sandbox_config(
        shared_stack,
        waivers=[
            {
                "control": "ZZZ-99",
                "reason": "typo",
                "ticket": "OPS-1",
                "approver": "a",
                "expires": "in 10d",
            }
        ],
    )
    strict = suite(tmp_path / "a", config, "-m", "weekly", "-k", "GOV-03")
    assert strict.exit_code == 1, strict.output
    lenient = suite(tmp_path / "b", config, "-m", "weekly", "-k", "GOV-03", "--fail-on=high")
    assert lenient.exit_code == 0, lenient.output
    assert lenient.last_line.startswith("ops-check selftest: MEDIUM (1 failing medium check)")
    assert lenient.results.run.fail_on == "high"


def list_controls(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", f"--rootdir={REPO}", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_list_controls_prints_the_catalogue_and_writes_nothing(tmp_path: Path) -> None:
    done = list_controls(str(REPO / "checks"), "--list-controls=json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    catalogue = json.loads(done.stdout)
    ids = [c["id"] for c in catalogue]
    assert ids == sorted(set(ids)) and {"HLT-01", "BKP-01", "DRL-06", "GOV-01"} <= set(ids)
    hlt = next(c for c in catalogue if c["id"] == "HLT-01")
    assert hlt["severity"] == "critical" and "daily" in hlt["cadences"] and hlt["runbook"]
    text = list_controls(str(REPO / "checks"), "--list-controls", "-m", "monthly", cwd=tmp_path)
    assert text.returncode == 0 and "BKP-06" in text.stdout and "HLT-01" not in text.stdout
    assert not (tmp_path / "out").exists()


def test_docs_controls_md_is_generated_from_the_checks() -> None:
    done = list_controls(str(REPO / "checks"), "--list-controls=markdown")
    assert done.returncode == 0, done.stderr
    committed = (REPO / "docs" / "controls.md").read_text()
    assert committed == done.stdout, (
        "docs/controls.md is stale: pytest checks --list-controls=markdown > docs/controls.md"
    )


def test_every_declared_control_is_in_the_coverage_matrix() -> None:
    from lms_opscheck.reports.coverage import load_matrix, load_sections, validate

    done = list_controls(str(REPO / "checks"), "--list-controls=json")
    declared = {c["id"] for c in json.loads(done.stdout)}
    assert validate(load_matrix(), declared, load_sections()) == []


def test_collect_only_writes_no_run_folder(tmp_path: Path, shared_stack: stack.State) -> None:
    run = suite(tmp_path, sandbox_config(shared_stack), "-m", "daily", "--collect-only")
    assert run.exit_code == 0, run.output
    assert not (tmp_path / "out").exists()


def test_allure_titles_per_replica_and_remediation_in_the_description(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    port = shared_stack.api_port
    replicas = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    config = sandbox_config(shared_stack, targets={"api": {"replicas": replicas}})
    run = suite(tmp_path, config, "-m", "daily", "-k", "HLT-01 or BKP-01")
    assert run.exit_code == 0, run.output
    results = [
        json.loads(p.read_text()) for p in (run.run_dir / "allure-results").glob("*-result.json")
    ]
    titles = sorted(r["name"] for r in results if r["name"].startswith("HLT-01"))
    assert titles == sorted(f"HLT-01 {t}" for t in _titles(results, replicas)), titles
    hlt = next(r for r in results if r["name"].startswith("HLT-01"))
    assert "Remediation: Runbook 3.1 API Unavailability" in hlt["description"]
    labels = {(label["name"], label["value"]) for label in hlt["labels"]}
    assert ("parentSuite", "System health") in labels
    assert any(name == "suite" and value.startswith("HLT-01 ") for name, value in labels)
    containers = [
        json.loads(p.read_text()) for p in (run.run_dir / "allure-results").glob("*-container.json")
    ]
    assert all(not c.get("befores") and not c.get("afters") for c in containers)
    rc = json.loads((run.run_dir / "allurerc.json").read_text())
    assert rc["output"] == "allure-report"


def _titles(results: list[dict[str, object]], replicas: list[str]) -> list[str]:
    title = next(str(r["name"]) for r in results if str(r["name"]).startswith("HLT-01"))
    base = title.split(" [")[0].removeprefix("HLT-01 ")
    return [f"{base} [{url}]" for url in replicas]


def test_the_textfile_carries_the_backup_age_in_seconds(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    run = suite(tmp_path, sandbox_config(shared_stack), "-m", "daily", "-k", "BKP-01")
    text = (run.run_dir / "opscheck.prom").read_text()
    (check,) = run.results.checks
    age = next(e for e in check.evidence if e.name == "age")
    assert age.name == "age" and age.unit == "seconds" and age.number is not None
    sample = 'ops_check_value{env="selftest",control="BKP-01",target="",name="age",unit="seconds"}'
    assert sample in text
    assert float(text.split(sample)[1].split()[0]) == pytest.approx(age.number)


def hung_env(tmp_path: Path, port: int) -> Path:
    return write_env(
        tmp_path / "hung.yaml",
        {
            "name": "hung",
            "timeouts": {"connect": "60s", "request": "60s", "deadline": "60s"},
            "targets": {"api": {"replicas": [f"http://127.0.0.1:{port}"]}},
        },
    )


def start_suite(env_file: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            f"--rootdir={REPO}",
            "-m",
            "daily",
            f"--env={env_file}",
            f"--out={out}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)


def test_sigterm_still_writes_the_results_so_far(tmp_path: Path) -> None:
    with black_hole() as port:
        out = tmp_path / "out"
        process = start_suite(hung_env(tmp_path, port), out)
        wait_for(out / "allure-results" / "executor.json", process)
        time.sleep(1.0)  # let the measurement start and hang on the black hole
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stdout + stderr
    results = read_results(out / "results.json")
    assert results.run.interrupted == "SIGTERM"
    assert (out / "junit.xml").is_file() and (out / "opscheck.prom").is_file()
    last = [ln for ln in stdout.splitlines() if ln.strip()][-1]
    assert last.startswith("ops-check hung: INTERRUPTED by SIGTERM"), stdout
    assert 'ops_run_interrupted{env="hung"} 1' in (out / "opscheck.prom").read_text()


def test_a_second_run_on_the_same_out_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    with black_hole() as port:
        out = tmp_path / "out"
        env_file = hung_env(tmp_path, port)
        first = start_suite(env_file, out)
        wait_for(out / "allure-results" / "executor.json", first)
        second = run_suite("-m", "daily", f"--env={env_file}", out=out)
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert second.exit_code == 4, second.output
    assert "is in use by another run" in second.stderr
    assert read_results(out / "results.json").run.interrupted == "SIGTERM"  # the first run's


def test_a_trickling_alertmanager_cannot_hold_the_run(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    from tests.support.trickle import trickling_server

    with trickling_server() as url:
        run = suite(
            tmp_path,
            sandbox_config(shared_stack),
            "-m",
            "daily",
            "-k",
            "BKP-01",
            f"--alertmanager={url}",
        )
    assert run.exit_code == 0, run.output
    assert "alertmanager PUSH FAILED: push to http://127.0.0.1:" in run.stdout
    assert "did not finish within 5s" in run.stdout


@pytest.mark.parametrize("url", ["http://[::1", "ftp://am:9093", "am:9093"])
def test_a_malformed_alertmanager_url_is_a_usage_error(
    tmp_path: Path, shared_stack: stack.State, url: str
) -> None:
    run = suite(tmp_path, sandbox_config(shared_stack), "-m", "daily", f"--alertmanager={url}")
    assert run.exit_code == 4, run.output
    assert "--alertmanager" in run.stderr and "Traceback" not in run.output
    assert len([ln for ln in run.stderr.splitlines() if ln.strip()]) == 1, run.stderr


def test_old_run_folders_are_pruned_and_the_rest_kept(tmp_path: Path) -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    names = {
        age: (now - timedelta(days=age)).strftime("%Y%m%dT%H%M%S.000Z") for age in (1, 50, 150)
    }
    for name in names.values():
        (tmp_path / name).mkdir()
    (tmp_path / "notes").mkdir()  # not ours: never touched
    (tmp_path / "latest").symlink_to(names[150])  # what latest points at is kept
    removed = retention.prune(tmp_path, timedelta(days=100), tmp_path / names[1], now=now)
    assert removed == []
    (tmp_path / "latest").unlink()
    removed = retention.prune(tmp_path, timedelta(days=100), tmp_path / names[1], now=now)
    assert [p.name for p in removed] == [names[150]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([names[1], names[50], "notes"])
    assert os.path.isdir(tmp_path / "notes")
