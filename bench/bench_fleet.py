"""Fleets: 200 real API replicas (local listeners this bench starts) measured by the suite.

1. The measurement engine on 200 replicas' health against a sequential ``curl`` loop over the
   same URLs (target: <= 0.3x), with the errors and the worst latency it reported (must be 0).
2. ``pytest -m daily`` on 200 replicas (5 API checks each) against 1 replica (target: <= 3x),
   also without allure-pytest's listener, to show what the per-check reporting costs.
3. ``-n 2`` against serial, on the 200-replica environment and on the daily sandbox selection:
   as run by default (a checks run ignores -n) and honoured (``-o opscheck_xdist=honour``).

Runs alternate so that machine noise hits every variant alike; medians are printed.
Usage: python bench/bench_fleet.py [--rounds N] [--replicas N] [--no-sandbox]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _alternate import Sample, alternate, ratio  # noqa: E402  (bench/ is on sys.path)

from lms_opscheck.config.model import Environment  # noqa: E402
from lms_opscheck.fixtures.measurements import measure  # noqa: E402
from tests.support.fleet import fleet  # noqa: E402


def engine(env: Environment) -> Sample:
    started = time.perf_counter()
    outcomes = measure(env, {"api_health"})
    seconds = time.perf_counter() - started
    errors = sum(1 for o in outcomes.values() if o.error is not None)
    worst = max(
        (o.value.latency.total_seconds() for o in outcomes.values() if o.error is None),
        default=0.0,
    )
    return seconds, f"errors {errors}, worst latency {worst * 1000:.0f} ms"


def curl_loop(urls: list[str]) -> Sample:
    script = 'for u in "$@"; do curl -s -o /dev/null --max-time 5 "$u" || echo fail; done'
    started = time.perf_counter()
    done = subprocess.run(["bash", "-c", script, "curl", *urls], capture_output=True, text=True)
    return time.perf_counter() - started, f"failures {done.stdout.count('fail')}"


def pytest_run(args: list[str], env: dict[str, str] | None = None) -> Sample:
    out = tempfile.mkdtemp(prefix="bench-fleet-")
    command = [sys.executable, "-m", "pytest", "-q", "-m", "daily", f"--out={out}", *args]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return seconds, f"exit {done.returncode}: {last.split(' in ')[0]}"


def write_env(path: Path, urls: list[str]) -> Path:
    config = {
        "name": "fleet",
        "timeouts": {"connect": "2s", "request": "2s", "deadline": "4s"},
        "targets": {"api": {"replicas": urls}},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=200)
    parser.add_argument("--no-sandbox", action="store_true", help="skip the sandbox comparison")
    options = parser.parse_args()
    rounds, count = options.rounds, options.replicas
    folder = Path(tempfile.mkdtemp(prefix="bench-fleet-env-"))
    with fleet(count) as ports:
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        health = [url + "/api/v1/health" for url in urls]
        config = {"name": "fleet", "targets": {"api": {"replicas": urls}}}
        env = Environment.model_validate({**config, "timeouts": {"deadline": "4s"}})
        engine(env)  # warm-up: imports, first TLS/loop set-up
        print(f"\n1. {count} replicas' health: measurement engine vs sequential curl")
        m = alternate(
            rounds,
            {
                f"engine: measure({count} replicas, api_health)": lambda: engine(env),
                f"curl loop over the same {count} URLs": lambda: curl_loop(health),
            },
        )
        ratio("engine / curl", *m.values(), target=0.3)

        many = write_env(folder / "many.yaml", urls)
        one = write_env(folder / "one.yaml", urls[:1])
        no_allure = ["-p", "no:allure_pytest"]
        print(f"\n2. pytest -m daily: {count} replicas ({5 * count} API checks) vs 1 replica")
        m = alternate(
            rounds,
            {
                "1 replica": lambda: pytest_run([f"--env={one}"]),
                f"{count} replicas": lambda: pytest_run([f"--env={many}"]),
                "1 replica, without allure-pytest": lambda: pytest_run(
                    [f"--env={one}", *no_allure]
                ),
                f"{count} replicas, without allure-pytest": lambda: pytest_run(
                    [f"--env={many}", *no_allure]
                ),
            },
        )
        values = list(m.values())
        ratio(f"{count} / 1 replica", values[1], values[0], target=3)
        ratio(f"{count} / 1 replica without allure-pytest", values[3], values[2], target=3)

        print(f"\n3. -n 2 vs serial on the {count}-replica environment")
        honour = ["-o", "opscheck_xdist=honour"]
        m = alternate(
            rounds,
            {
                "serial": lambda: pytest_run([f"--env={many}"]),
                "-n 2 (ignored by default)": lambda: pytest_run([f"--env={many}", "-n", "2"]),
                "-n 2, honoured (-o opscheck_xdist=honour)": lambda: pytest_run(
                    [f"--env={many}", "-n", "2", *honour]
                ),
            },
        )
        ratio("-n 2 / serial", m["-n 2 (ignored by default)"], m["serial"])
        honoured = m["-n 2, honoured (-o opscheck_xdist=honour)"]
        ratio("-n 2 honoured / serial", honoured, m["serial"])

    if options.no_sandbox:
        return
    from lms_opscheck.sandbox import stack

    state, started = stack.up()
    try:
        sandbox = {**os.environ, **state.environ()}
        print("\n4. -n 2 vs serial on the daily selection of the sandbox")
        m = alternate(
            rounds,
            {
                "serial": lambda: pytest_run(["--env", "sandbox"], sandbox),
                "-n 2 (ignored by default)": lambda: pytest_run(
                    ["--env", "sandbox", "-n", "2"], sandbox
                ),
                "-n 2, honoured (-o opscheck_xdist=honour)": lambda: pytest_run(
                    ["--env", "sandbox", "-n", "2", "-o", "opscheck_xdist=honour"],
                    sandbox,
                ),
            },
        )
        ratio("-n 2 / serial", m["-n 2 (ignored by default)"], m["serial"])
        honoured = m["-n 2, honoured (-o opscheck_xdist=honour)"]
        ratio("-n 2 honoured / serial", honoured, m["serial"])
    finally:
        if started:
            stack.down()


if __name__ == "__main__":
    main()
