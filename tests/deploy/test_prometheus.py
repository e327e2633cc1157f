"""Prometheus alert rules: promtool checks them and runs their unit tests on the suite's series."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lms_opscheck.reports.textfile import METRICS
from tests.deploy.conftest import DEPLOY, RealRun, run, tool
from tests.deploy.textfiles import (
    first_value,
    input_series,
    metric_names,
    metrics_in,
    parse_series,
    samples,
    scenario_textfiles,
    without_scrape_labels,
)

RULES = DEPLOY / "prometheus" / "opscheck-rules.yml"
RULE_TESTS = DEPLOY / "prometheus" / "opscheck-rules.test.yml"


def promtool() -> str:
    return tool("promtool", "prometheus")


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def test_rules_pass_promtool_check_rules() -> None:
    result = run(promtool(), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


def test_rule_unit_tests_pass_promtool_test_rules() -> None:
    result = run(promtool(), "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "FAILED" not in result.stdout + result.stderr


def test_the_rules_cover_what_issue_10_asks_for() -> None:
    by_name = {rule["alert"]: rule for rule in rules()}
    assert "ops_check_last_run_timestamp_seconds" in by_name["OpsCheckNotRun"]["expr"]
    assert by_name["OpsCheckNoMetrics"]["expr"].startswith("absent(")
    assert (
        by_name["OpsCheckCriticalControlDown"]["expr"] == 'ops_check_up{severity="critical"} == 0'
    )
    assert by_name["OpsCheckControlWarning"]["for"] == "24h"
    assert "ops_run_interrupted" in by_name["OpsCheckRunInterrupted"]["expr"]
    for rule in rules():
        assert rule["annotations"]["runbook_url"].startswith("https://"), rule["alert"]
        severity = rule.get("labels", {}).get("severity") or re.search(
            r'severity(!?=)"critical"', rule["expr"]
        )
        assert severity, f"{rule['alert']}: no severity to route on"


def test_every_metric_the_rules_use_is_one_the_writer_declares() -> None:
    used = set().union(*(metrics_in(rule["expr"]) for rule in rules()))
    assert used, "no metric found: the expression parser is broken"
    assert used <= set(METRICS), used - set(METRICS)


def test_every_input_series_of_the_rule_tests_is_one_the_suite_writes() -> None:
    """The unit tests may only speak of series the real writer produces, from the values it
    wrote: a renamed metric or label, or a changed value, makes them drift, and this fails."""
    written: dict[Any, float] = {}
    for text in scenario_textfiles().values():
        written |= samples(text)
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    checked = 0
    for case in tests:
        for item in case["input_series"]:
            key = without_scrape_labels(parse_series(item["series"]))
            if not key[0].startswith("ops_"):
                continue  # Prometheus' own series (up), not the suite's
            assert key in written, f"{case['name']}: {item['series']} is not in the textfile"
            assert first_value(item["values"]) == written[key], item
            checked += 1
    assert checked >= 15


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("> 26 * 3600", "> 20 * 3600"),
        ("for: 24h", "for: 1h"),
        ('ops_check_up{severity="critical"} == 0', 'ops_check_up{severity="critical"} < 0'),
        ('state=\\"error\\"', 'state=\\"failed\\"'),
        ("unless on (env)", "and on (env)"),
        ("max by (env) (ops_run_interrupted) == 1", "max by (env) (ops_run_interrupted) == 0"),
    ],
    ids=[
        "staleness-20h",
        "warning-1h",
        "critical-never",
        "state-swapped",
        "missing-inverted",
        "interrupted-inverted",
    ],
)
def test_the_unit_tests_catch_a_broken_rule(tmp_path: Path, old: str, new: str) -> None:
    text = RULES.read_text()
    assert old in text
    (tmp_path / RULES.name).write_text(text.replace(old, new))
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    result = run(promtool(), "test", "rules", str(tmp_path / RULE_TESTS.name))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAILED" in result.stdout + result.stderr


def test_the_rules_fire_on_a_real_runs_textfile(tmp_path: Path, real_run: RealRun) -> None:
    """The textfile of a real daily run (one API replica refused) as promtool input: the critical
    alert fires for exactly the controls the run could not measure on the dead replica, and says
    so; nothing fires for what passed."""
    labels = {"instance": "ops-runner-1:9100", "job": "node"}
    series = input_series(real_run.text, repeat=60, extra_labels=labels)
    env = real_run.suite.results.run.env
    down = [
        c
        for c in real_run.suite.results.checks
        if c.control.severity == "critical" and c.outcome in ("failed", "error")
    ]
    assert {c.subject for c in down} == {real_run.dead_replica}, real_run.suite.output
    expected = []
    for check in down:
        target, control = check.subject, check.control.id
        state = "could not be measured" if check.outcome == "error" else "failed"
        expected.append(
            {
                "exp_labels": {
                    "alertname": "OpsCheckCriticalControlDown",
                    "env": env,
                    "control": control,
                    "target": target,
                    "severity": "critical",
                    **labels,
                },
                "exp_annotations": {
                    "summary": f"{control} on {env} ({target}) {state}",
                    "description": (
                        f"Critical control {control} is failing or could not be measured on "
                        f"{env}, target {target}. The run folder's results.json and the terminal "
                        "summary name the measured value and the threshold; re-check with "
                        f"`lms-opscheck -k {control} --env {env}`."
                    ),
                    "runbook_url": (
                        "https://git.lms.example/ops/lms-opscheck/-/blob/main/docs/controls.md"
                    ),
                },
            }
        )
    quiet = ["OpsCheckNotRun", "OpsCheckMetricsMissing", "OpsCheckNoMetrics"]
    quiet += ["OpsCheckRunInterrupted", "OpsCheckControlWarning"]
    test = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "name": "a real run's textfile",
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {
                        "eval_time": "5m",
                        "alertname": "OpsCheckCriticalControlDown",
                        "exp_alerts": expected,
                    },
                    *({"eval_time": "5m", "alertname": name, "exp_alerts": []} for name in quiet),
                ],
            }
        ],
    }
    path = tmp_path / "real.test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    result = run(promtool(), "test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_real_runs_textfile_passes_promtool_check_metrics(real_run: RealRun) -> None:
    checked = run(promtool(), "check", "metrics", stdin=real_run.text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert metric_names(real_run.text) == set(METRICS)
