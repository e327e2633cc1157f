"""Alertmanager route example: amtool accepts it, routes by severity, and inhibition works."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from lms_opscheck.reports import alerts
from tests.deploy.conftest import DEPLOY, run, tool
from tests.support import alertmanager as support
from tests.support.sample_runs import check

CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"


def amtool() -> str:
    return tool("amtool", "prometheus-alertmanager")


def test_amtool_check_config_is_clean() -> None:
    result = run(amtool(), "check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "1 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        # the suite's own push (reports/alerts.py labels), by severity
        ({"alertname": "OpsCheckFailing", "severity": "critical"}, "opscheck-pager"),
        ({"alertname": "OpsCheckFailing", "severity": "high"}, "opscheck-ticket"),
        ({"alertname": "OpsCheckFailing", "severity": "low"}, "opscheck-ticket"),
        # the Prometheus rules
        ({"alertname": "OpsCheckCriticalControlDown", "severity": "critical"}, "opscheck-pager"),
        ({"alertname": "OpsCheckControlWarning", "severity": "medium"}, "opscheck-ticket"),
        ({"alertname": "OpsCheckNotRun", "severity": "high"}, "opscheck-ticket"),
        # somebody else's alert is not ours to route
        ({"alertname": "NodeDown", "severity": "critical"}, "default"),
    ],
    ids=lambda v: v if isinstance(v, str) else f"{v['alertname']}-{v['severity']}",
)
def test_routes_page_on_critical_and_ticket_the_rest(labels: dict[str, str], receiver: str) -> None:
    pairs = [f"{k}={v}" for k, v in {**labels, "env": "prod", "control": "BKP-01"}.items()]
    result = run(amtool(), "config", "routes", "test", f"--config.file={CONFIG}", *pairs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_the_pushed_alerts_labels_reach_the_pager_route() -> None:
    """The labels come from the suite's own alert builder, not from a copy of them."""
    record = check("HLT-01", "failed", severity="critical", subject="https://api-1")
    labels = alerts.labels(record, "prod")
    assert labels["alertname"] == alerts.ALERTNAME == "OpsCheckFailing"
    pairs = [f"{k}={v}" for k, v in labels.items()]
    result = run(amtool(), "config", "routes", "test", f"--config.file={CONFIG}", *pairs)
    assert result.stdout.strip() == "opscheck-pager", result.stdout + result.stderr


def test_group_by_env_and_control() -> None:
    route = yaml.safe_load(CONFIG.read_text())["route"]
    ours = next(r for r in route["routes"] if "OpsCheck" in str(r["matchers"]))
    assert ours["group_by"] == ["env", "control"]


@contextmanager
def alertmanager_with(config: dict[str, Any], root: Path) -> Iterator[str]:
    """The real Alertmanager on 127.0.0.1 with ``config``; stopped at the end, even on failure."""
    if shutil.which(support.BINARY) is None:
        pytest.skip("prometheus-alertmanager is not installed (Debian prometheus-alertmanager)")
    with support.alertmanager(root, config=yaml.safe_dump(config)) as url:
        yield url


def test_the_suites_push_mutes_the_rules_alert_of_the_same_control(tmp_path: Path) -> None:
    """On a real Alertmanager with the shipped route and inhibit rules (receivers emptied, so no
    notification can leave this machine): while OpsCheckFailing fires for prod/HLT-01/api-1, the
    textfile rule's alert for the same control and target is suppressed; another target's is not."""
    config = yaml.safe_load(CONFIG.read_text())
    config["receivers"] = [{"name": r["name"]} for r in config["receivers"]]
    now = datetime.now(UTC)
    record = check("HLT-01", "failed", severity="critical", subject="https://api-1")
    pushed = alerts.alert_of(record, "prod", now)
    rule_alert = {
        "labels": {
            "alertname": "OpsCheckCriticalControlDown",
            "env": "prod",
            "control": "HLT-01",
            "target": "https://api-1",
            "severity": "critical",
            "instance": "h:9100",
            "job": "node",
        },
        "startsAt": pushed["startsAt"],
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }
    other_target = {**rule_alert, "labels": {**rule_alert["labels"], "target": "https://api-2"}}
    with alertmanager_with(config, tmp_path / "am") as url:
        posted = httpx.post(f"{url}/api/v2/alerts", json=[pushed, rule_alert, other_target])
        assert posted.status_code == 200, posted.text
        held = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    state = {(a["labels"]["alertname"], a["labels"]["target"]): a["status"] for a in held}
    assert state[("OpsCheckFailing", "https://api-1")]["state"] == "active"
    muted = state[("OpsCheckCriticalControlDown", "https://api-1")]
    assert muted["state"] == "suppressed" and muted["inhibitedBy"], muted
    assert state[("OpsCheckCriticalControlDown", "https://api-2")]["state"] == "active"
