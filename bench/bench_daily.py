"""Wall time of `pytest -m daily --env sandbox` against a shell script doing the same checks.

Runs alternate (pytest, shell, pytest, shell, ...) so machine noise hits both alike; prints
medians and ratios. Also: the same with every target hung, and `pytest --collect-only` as floor.
Usage: python bench/bench_daily.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lms_opscheck.sandbox import stack  # noqa: E402
from lms_opscheck.sandbox.redis_server import redis_server_binary  # noqa: E402
from tests.support.stacks import black_hole, hung_config  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO, env=env, capture_output=True, check=False)
    return time.perf_counter() - started


def alternate(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            samples[name].append(run())
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    rounds = parser.parse_args().rounds
    state, started = stack.up()
    env = {**os.environ, **state.environ()}
    shell_env = {
        **env,
        "PG_BIN": state.environ()["SANDBOX_PG_BIN"],
        "REDIS_CLI": str(Path(redis_server_binary()).with_name("redis-cli")),
        "PGPASSWORD": state.pg_password,
        "REDISCLI_AUTH": state.redis_password,
        "BROKER_URL": state.broker_url,
    }
    shell = [
        "bash",
        "bench/daily.sh",
        f"http://127.0.0.1:{state.api_port}",
        str(state.pg_port),
        str(state.redis_port),
    ]
    out = tempfile.mkdtemp()
    # This machine sets PYTHONDONTWRITEBYTECODE=1. The variant that may write bytecode writes it
    # under a prefix of its own, so that it never leaves __pycache__ in the repository for the
    # other variants to read.
    bytecode_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    bytecode_env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-pycache-")
    script = Path(sys.executable).with_name("lms-opscheck")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lms_opscheck"]
    cli = [*command, "-q", "-m", "daily", "--env", "sandbox", f"--out={out}/cli"]
    pytest = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-m",
        "daily",
        "--env",
        "sandbox",
        f"--out={out}",
    ]
    healthy = alternate(
        rounds,
        {
            "pytest -m daily --env sandbox": lambda: timed(pytest, env),
            "lms-opscheck -m daily --env sandbox": lambda: timed(cli, env),
            "shell (curl, psql, redis-cli)": lambda: timed(shell, shell_env),
            "shell + celery inspect ping": lambda: timed([*shell, "celery"], shell_env),
            "pytest --collect-only (floor)": lambda: timed([*pytest, "--collect-only"], env),
            "pytest, bytecode cache allowed": lambda: timed(pytest, bytecode_env),
        },
    )
    report("healthy sandbox", healthy, "shell (curl, psql, redis-cli)")
    fair = healthy["shell + celery inspect ping"]
    print(
        f"  lms-opscheck vs the fair peer (shell + celery inspect ping): "
        f"{healthy['lms-opscheck -m daily --env sandbox'] / fair:.2f}x (target <= 0.6x)"
    )

    with black_hole() as port:
        hung_env = Path(out) / "hung.yaml"
        # Per-call timeouts far above the deadline: what ends the run must be the deadline.
        config = hung_config(port, deadline="2s")
        config["timeouts"].update(connect="30s", request="30s")
        hung_env.write_text(yaml.safe_dump(config))
        hung_shell = ["bash", "bench/daily.sh", f"http://127.0.0.1:{port}", str(port), str(port)]
        hung_times = alternate(
            max(3, rounds // 3),
            {
                "pytest -m daily (all hung, deadline 2s, call timeouts 30s)": lambda: timed(
                    [*pytest[:-3], f"--env={hung_env}", f"--out={out}/h"], env
                ),
                "shell (all hung, 2s timeouts)": lambda: timed(hung_shell, shell_env),
            },
        )
    report(
        "every target hung (accepts TCP, never answers)",
        hung_times,
        "shell (all hung, 2s timeouts)",
    )
    excess = (
        hung_times["pytest -m daily (all hung, deadline 2s, call timeouts 30s)"]
        - healthy["pytest -m daily --env sandbox"]
    )
    print(f"  hung run minus healthy run: {excess:.3f} s (bound: the 2 s deadline + 1 s)")
    if started:
        stack.down()


def report(title: str, medians: dict[str, float], baseline: str) -> None:
    print(f"\n{title}: medians of alternating runs")
    for name, value in medians.items():
        print(f"  {name:<42} {value:6.3f} s   {value / medians[baseline]:5.1f}x")


if __name__ == "__main__":
    main()
