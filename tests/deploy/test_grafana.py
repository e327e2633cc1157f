"""The Grafana dashboard: valid JSON, the schema's basics, queries of series a real run wrote."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from lms_opscheck.reports.textfile import METRICS
from tests.deploy.conftest import DEPLOY, RealRun, run, tool
from tests.deploy.textfiles import metric_names, metrics_in

DASHBOARD = DEPLOY / "grafana" / "opscheck-dashboard.json"


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> list[dict[str, Any]]:
    found = []
    for panel in dashboard()["panels"]:
        found += [panel, *panel.get("panels", [])]  # rows may hold panels
    return found


def exprs() -> list[str]:
    return [t["expr"] for p in panels() for t in p.get("targets", [])]


def test_the_dashboard_has_the_schema_basics() -> None:
    data = dashboard()
    assert data["title"] and data["uid"] and isinstance(data["schemaVersion"], int)
    ids = [p["id"] for p in panels()]
    assert all(isinstance(i, int) for i in ids) and len(ids) == len(set(ids)), ids
    for panel in panels():
        assert panel["type"] and panel["title"] and panel["description"], panel["id"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, panel["id"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["id"]
        if panel["type"] == "row":
            continue
        refs = [t["refId"] for t in panel["targets"]]
        assert panel["targets"] and len(refs) == len(set(refs)), panel["id"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["id"]


def test_the_environment_is_a_template_variable_every_query_uses() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    env = variables["env"]
    assert env["type"] == "query"
    match = re.fullmatch(r"label_values\((\w+), env\)", env["definition"])
    assert match and match.group(1) in METRICS, env["definition"]
    assert env["multi"] and env["includeAll"]
    assert variables["datasource"]["type"] == "datasource"
    for expr in exprs():
        assert 'env=~"$env"' in expr, expr


def test_the_panels_issue_10_asks_for_are_there() -> None:
    used = {name for expr in exprs() for name in metrics_in(expr)}
    assert {
        "ops_check_last_run_timestamp_seconds",  # last run age per env
        "ops_check_state",  # failing / unmeasurable controls table
        "ops_check_value",  # measured values over time
        "ops_run_duration_seconds",
        "ops_run_checks",  # checks per outcome
    } <= used
    tables = [p for p in panels() if p["type"] == "table"]
    assert any("ops_check_state" in t["expr"] for p in tables for t in p["targets"])


def test_every_query_names_only_metrics_a_real_run_wrote(real_run: RealRun) -> None:
    written = metric_names(real_run.text)
    for expr in exprs():
        used = metrics_in(expr)
        assert used and used <= written, f"{expr}: {used - written} not in the run's textfile"


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query (as a recording rule, with the variables filled in)."""
    promtool = tool("promtool", "prometheus")
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$env", ".+")}
        for i, expr in enumerate(exprs())
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
