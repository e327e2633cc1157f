"""Prometheus checks against a real Prometheus: HTTP queries per control, and wall time.

Queries are counted by Prometheus itself (``prometheus_http_requests_total`` by handler on its
own /metrics), before and after running one control (``-k MON-0N``) and the whole selection.
Wall time of ``pytest -m daily checks/test_monitoring.py`` alternates a healthy Prometheus with
a hung one (accepts TCP, never answers) and prints medians: the hung case is bounded by the
run's deadline, not by one timeout per query.
Usage: python bench/bench_monitoring.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ["LMS_OPSCHECK_SANDBOX_PROMETHEUS"] = "off"  # this bench starts its own Prometheus

from lms_opscheck.sandbox import monitoring, stack  # noqa: E402
from lms_opscheck.sandbox.processes import stop  # noqa: E402
from tests.support.prometheus import traffic_counted  # noqa: E402
from tests.support.stacks import black_hole, sandbox_config  # noqa: E402

CONTROLS = ("MON-01", "MON-02", "MON-03", "MON-04", "MON-05", "MON-09")
DEADLINE = "4s"
_SAMPLE = re.compile(r'^prometheus_http_requests_total\{code="\d+",handler="([^"]+)"\} (\S+)$')


def api_queries(url: str) -> dict[str, float]:
    """Requests Prometheus served per API handler so far (its own counter)."""
    counts: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        match = _SAMPLE.match(line)
        if match and match[1].startswith("/api/"):
            counts[match[1]] = counts.get(match[1], 0) + float(match[2])
    return counts


def suite(env_file: Path, out: Path, *keywords: str) -> float:
    selection = ["-k", " or ".join(keywords)] if keywords else []
    argv = [
        sys.executable, "-m", "pytest", "-q", "-m", "daily", f"--env={env_file}",
        f"--out={out}", "checks/test_monitoring.py", *selection,
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO, capture_output=True, check=False)
    return time.perf_counter() - started


def write_env(path: Path, state: stack.State, url: str) -> Path:
    target = {"url": url, "window": "5m", "availability_window": "5m", "min_alertmanagers": 0}
    config = sandbox_config(
        state,
        timeouts={"connect": "2s", "request": "2s", "deadline": DEADLINE},
        targets={"prometheus": target},
    )
    path.write_text(yaml.safe_dump(config))
    return path


def queries_per_control(env_file: Path, url: str, out: Path) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for n, keyword in enumerate((*CONTROLS, "MON")):
        before = api_queries(url)
        suite(env_file, out / f"count{n}", keyword)
        after = api_queries(url)
        found[keyword] = {
            h: after[h] - before.get(h, 0) for h in after if after[h] > before.get(h, 0)
        }
    return found


def alternate(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            samples[name].append(run())
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    if monitoring.binary() is None:
        sys.exit("the prometheus binary is absent: apt-get install prometheus")
    root = Path(tempfile.mkdtemp(prefix="opscheck-bench-"))
    root.chmod(0o755)
    pid = 0
    try:
        state, _ = stack.up(root / "stack")
        pid, port = monitoring.start_prometheus(root / "prom", state.api_port, interval="1s")
        url = f"http://127.0.0.1:{port}"
        traffic_counted(url, state.api_port)
        healthy_env = write_env(root / "healthy.yaml", state, url)
        counts = queries_per_control(healthy_env, url, root)
        print("HTTP queries Prometheus served, per control (one round each):")
        for keyword, handlers in counts.items():
            shown = ", ".join(f"{h} {v:g}" for h, v in sorted(handlers.items()))
            label = "whole selection" if keyword == "MON" else keyword
            print(f"  {label:<16} {sum(handlers.values()):>3g}  ({shown})")
        with black_hole() as hung_port:
            hung_env = write_env(root / "hung.yaml", state, f"http://127.0.0.1:{hung_port}")
            walls = alternate(
                rounds,
                {
                    "healthy": lambda: suite(healthy_env, root / "h"),
                    "hung": lambda: suite(hung_env, root / "x"),
                },
            )
        print(f"\nwall time of `pytest -m daily checks/test_monitoring.py`, median of {rounds}:")
        print(f"  healthy Prometheus   {walls['healthy']:.2f} s")
        print(f"  hung Prometheus      {walls['hung']:.2f} s  (deadline {DEADLINE}; 6 checks)")
        print(f"  hung - healthy       {walls['hung'] - walls['healthy']:.2f} s")
    finally:
        stop(pid)
        stack.down(root / "stack")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
