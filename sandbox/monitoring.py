"""The sandbox's monitoring and review artifacts: a Prometheus (when the binary is installed)
scraping the reference API with the suite's alert rules, steady user traffic, the weekly k6
summary, and what the LMS's own jobs do for the monthly review (retention pruning).

``LMS_OPSCHECK_SANDBOX_PROMETHEUS=off`` keeps Prometheus out (self-test stacks that do not test
monitoring: a fresh Prometheus scrapes for the first time only ~5 s after it starts).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from psycopg import sql

from lms_opscheck.probes.http import ssl_context
from lms_opscheck.sandbox import loadtest
from lms_opscheck.sandbox.postgres import PostgresServer
from lms_opscheck.sandbox.processes import (
    free_port,
    is_alive,
    port_accepts,
    spawn,
    stop,
    wait_until,
)

SWITCH = "LMS_OPSCHECK_SANDBOX_PROMETHEUS"
JOB = "lms-api"
#: Prometheus' discovery publishes targets ~5 s after start; then two scrapes with traffic.
DATA_TIMEOUT = 30.0
#: What the LMS's retention jobs delete (sandbox.yaml's compliance.retention_rules).
RETENTION_JOBS = (("audit_logs", "created_at", "365 days"),)

#: The suite's alert rules for the LMS (lms-target.md): quiet while the sandbox is healthy.
RULES = """\
groups:
  - name: lms-api
    rules:
      - alert: LMSApiDown
        expr: up{job="lms-api"} == 0
        for: 1m
        labels: {severity: critical}
        annotations: {summary: "LMS API target {{ $labels.instance }} is down"}
      - alert: LMSHighErrorRate
        expr: >-
          (sum(rate(http_requests_total{job="lms-api",status=~"5.."}[10m])) or vector(0))
          / sum(rate(http_requests_total{job="lms-api"}[10m])) > 0.05
        for: 10m
        labels: {severity: critical}
        annotations: {summary: "More than 5% of LMS API requests fail with 5xx"}
      - alert: LMSHighLatency
        expr: >-
          histogram_quantile(0.95, sum by (le)
          (rate(http_request_duration_seconds_bucket{job="lms-api"}[10m]))) > 0.75
        for: 10m
        labels: {severity: warning}
        annotations: {summary: "LMS API p95 latency above 750ms"}
"""


def binary() -> str | None:
    return shutil.which("prometheus")


def enabled() -> bool:
    return os.environ.get(SWITCH, "auto").strip().lower() not in ("off", "0", "no", "false")


def _dir(root: Path) -> Path:
    return root / "monitoring"


def _load(root: Path) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads((_dir(root) / "state.json").read_text()).items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _save(root: Path, state: dict[str, int]) -> None:
    _dir(root).mkdir(parents=True, exist_ok=True)
    (_dir(root) / "state.json").write_text(json.dumps(state))


def prometheus_config(
    api_port: int, rules: Path, interval: str, alertmanager: str | None = None
) -> str:
    alerting = (
        f"alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{alertmanager}']}}]}}]}}\n"
        if alertmanager
        else ""
    )
    return (
        f"global: {{scrape_interval: {interval}, evaluation_interval: {interval}}}\n"
        f"rule_files: [{json.dumps(str(rules))}]\n" + alerting + "scrape_configs:\n"
        f"  - job_name: {JOB}\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{api_port}']}}]\n"
    )


def _get(url: str, **options: Any) -> httpx.Response:
    # One CA bundle load per process (httpx loads certifi's for every call: ~20 ms each).
    return httpx.get(url, verify=ssl_context(True), **options)


def start_prometheus(
    directory: Path,
    api_port: int,
    port: int = 0,
    rules: str = RULES,
    interval: str = "2s",
    alertmanager: str | None = None,
) -> tuple[int, int]:
    """Start Prometheus on 127.0.0.1 scraping the API (and sending to ``alertmanager``,
    ``host:port``); (pid, port) once it answers /-/ready."""
    found = binary()
    if found is None:
        raise RuntimeError("no prometheus binary: apt-get install prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yml").write_text(rules)
    config = directory / "prometheus.yml"
    config.write_text(prometheus_config(api_port, directory / "rules.yml", interval, alertmanager))
    port = port or free_port()
    argv = [
        found,
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'tsdb'}",
        "--storage.tsdb.retention.time=7d",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = directory / "prometheus.log"
    pid = spawn(argv, log, cwd=directory)
    ready = f"http://127.0.0.1:{port}/-/ready"
    wait_until(lambda: _get(ready, timeout=0.5).status_code == 200, 20, "Prometheus", log)
    return pid, port


def wait_for_data(url: str, timeout: float = DATA_TIMEOUT, job: str = JOB) -> None:
    """Until Prometheus scrapes the API (target up) and has counted its requests (rate() > 0)."""
    query = f'sum(rate(http_requests_total{{job="{job}",path!="/metrics"}}[1m])) > 0'

    def counted() -> bool:
        # The TSDB outlives a restart: recent rates can come from the previous Prometheus while
        # this one has not discovered the API yet. Its own target must be up too.
        targets = _get(f"{url}/api/v1/targets", params={"state": "active"}, timeout=1.0)
        up = [
            t
            for t in targets.json()["data"]["activeTargets"]
            if t.get("labels", {}).get("job") == job and t.get("health") == "up"
        ]
        if not up:
            return False
        answer = _get(f"{url}/api/v1/query", params={"query": query}, timeout=1.0).json()
        return bool(answer["data"]["result"])

    wait_until(counted, timeout, f"Prometheus data at {url}")


def catch_up(root: Path, api_port: int, server: PostgresServer) -> None:
    """What production's monitoring and jobs would have done by now (called at every `up`)."""
    (root / "uploads").mkdir(exist_ok=True)
    _grant_monitoring_role(server)
    _prune_retention(server)
    api = f"http://127.0.0.1:{api_port}"
    loadtest.refresh_summaries(root / "k6", api, datetime.now(UTC))
    problem = _dir(root) / "problem.txt"
    problem.unlink(missing_ok=True)
    if enabled() and binary() is not None:
        try:
            _run_prometheus(root, api_port)
        except RuntimeError as exc:
            # Not fatal to the stack: the monitoring checks then say what they cannot measure.
            _dir(root).mkdir(parents=True, exist_ok=True)
            problem.write_text(str(exc)[:300])


def _run_prometheus(root: Path, api_port: int) -> None:
    state = _load(root)
    pid, port = state.get("prometheus_pid", 0), state.get("prometheus_port", 0)
    moved = state.get("api_port") != api_port  # a restarted API on another port: re-scrape it
    if moved or not (is_alive(pid) and port_accepts(port)):
        stop(pid)
        pid, port = start_prometheus(_dir(root), api_port, _same_port(port))
        state.update(prometheus_pid=pid, prometheus_port=port)
    if moved or not is_alive(state.get("traffic_pid")):
        stop(state.get("traffic_pid"))
        state["traffic_pid"] = spawn(
            [sys.executable, "-m", "lms_opscheck.sandbox.traffic", f"http://127.0.0.1:{api_port}"],
            _dir(root) / "traffic.log",
        )
    state["api_port"] = api_port
    _save(root, state)
    wait_for_data(f"http://127.0.0.1:{port}")


def _same_port(previous: int | None) -> int:
    if previous and not port_accepts(previous):
        with contextlib.suppress(OSError), socket.socket() as probe:
            probe.bind(("127.0.0.1", previous))
            return previous
    return 0


def _grant_monitoring_role(server: PostgresServer) -> None:
    """The checks' role reads every session's state, as a production monitoring role must."""
    with server.connect("lms") as conn:
        conn.execute("GRANT pg_monitor TO lms")


def _prune_retention(server: PostgresServer) -> None:
    with server.connect("lms") as conn:
        for table, column, period in RETENTION_JOBS:
            statement = sql.SQL("DELETE FROM {} WHERE {} < now() - {}::interval").format(
                sql.Identifier(table), sql.Identifier(column), sql.Literal(period)
            )
            conn.execute(statement)


def stop_all(root: Path) -> None:
    state = _load(root)
    for name in ("traffic_pid", "prometheus_pid"):
        stop(state.pop(name, 0))
    if state or _dir(root).exists():
        _save(root, state)


def prometheus_url(root: Path) -> str:
    """The running Prometheus' URL, or "" (sandbox.yaml: the checks skip and say why)."""
    state = _load(root)
    port = state.get("prometheus_port", 0)
    return f"http://127.0.0.1:{port}" if is_alive(state.get("prometheus_pid")) and port else ""


def environ(root: Path) -> dict[str, str]:
    """The variables environments/sandbox.yaml interpolates for the review checks."""
    return {
        "SANDBOX_PROMETHEUS_URL": prometheus_url(root),
        "SANDBOX_K6_DIR": str(root / "k6"),
        "SANDBOX_DATA_DIR": str(root / "pgdata"),
        "SANDBOX_UPLOADS_DIR": str(root / "uploads"),
    }


def status_lines(root: Path) -> list[str]:
    url = prometheus_url(root)
    if url:
        return [f"  prometheus running {url.removeprefix('http://')}"]
    if binary() is None:
        why = "not installed (apt-get install prometheus): monitoring checks skip"
    elif not enabled():
        why = f"off ({SWITCH}=off): monitoring checks skip"
    elif (_dir(root) / "problem.txt").exists():
        why = f"failed: {(_dir(root) / 'problem.txt').read_text()}"
    else:
        why = "stopped"
    return [f"  prometheus {why}"]
