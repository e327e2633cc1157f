"""Wall time of `pytest -m daily --env sandbox` against a shell script doing the same checks.

Runs alternate (pytest, shell, pytest, shell, ...) so machine noise hits both alike; prints
medians and ratios. The console command is measured twice: from this checkout's environment
and installed from the wheel into a fresh venv (what an operator runs; ``--no-install`` skips
it). Also: the same with every target hung, `pytest --collect-only`, and the floors of the
toolchain the suite must use (pytest, allure-pytest, httpx, psycopg, redis...): what starting
Python, importing those libraries, and a pytest run of as many empty tests with Allure and JUnit
take on this machine, whatever the checks do.
Usage: python bench/bench_daily.py [--rounds N] [--no-install]
"""

from __future__ import annotations

import argparse
import os
import shutil
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

from lms_opscheck.record import read_results  # noqa: E402
from lms_opscheck.sandbox import stack  # noqa: E402
from lms_opscheck.sandbox.redis_server import redis_server_binary  # noqa: E402
from tests.support.stacks import black_hole, hung_config  # noqa: E402

INSTALLED = "lms-opscheck installed from the wheel (fresh venv)"
HUNG = "pytest -m daily (all hung, deadline 2s, request timeout 30s)"


def timed(argv: list[str], env: dict[str, str], cwd: Path = REPO, expect: int = 0) -> float:
    """Wall time of one run, which must end with ``expect``: a run that stopped on a usage or
    internal error would time the error, not the work."""
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != expect:
        tail = (done.stdout + done.stderr).decode(errors="replace").strip().splitlines()[-3:]
        sys.exit(f"{' '.join(argv[:6])}...: exit {done.returncode}, expected {expect}: {tail}")
    return elapsed


def alternate(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            samples[name].append(run())
    return {name: statistics.median(values) for name, values in samples.items()}


def installed_command(root: Path) -> Path:
    """``lms-opscheck`` as an operator has it: the wheel of this checkout installed (not editable)
    into a fresh venv with its dependencies, bytecode compiled by pip at install time, and none
    of this machine's other packages (a machine-wide trio, say, that httpcore would import)."""
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                    str(REPO)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = wheels.glob("lms_opscheck-*.whl")
    target = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True)
    subprocess.run([str(target / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    f"{wheel}[sandbox]"], check=True, capture_output=True)  # fmt: skip
    return target / "bin" / "lms-opscheck"


#: The libraries the mission requires that a daily run imports (pytest-xdist and testinfra it
#: does not; httpcore is what an httpx client imports once made). pydantic, cryptography,
#: hyperscan and prometheus-client, which the suite chose, come on top.
LIBRARIES = "pytest, allure_pytest.plugin, httpx, httpcore, psycopg, redis, yaml"


Runs = dict[str, Callable[[], float]]


def floors(python: str, items: int, env: dict[str, str], root: Path) -> Runs:
    """Runs that do none of the checks' work: start Python; import the required libraries; run
    ``items`` empty tests under pytest with Allure and JUnit (the plugins the console command
    loads), without and with those libraries imported (a conftest that only imports them)."""
    bare, full = root / "floor" / "bare", root / "floor" / "imports"
    test = "@pytest.mark.daily\ndef test_{}() -> None:\n    pass\n\n"
    tests = "".join(test.format(i) for i in range(items))
    for folder in (bare, full):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pytest.ini").write_text("[pytest]\nmarkers =\n    daily: the daily checks\n")
        (folder / "test_empty.py").write_text(f"import pytest\n\n\n{tests}")
    (full / "conftest.py").write_text(f"import {LIBRARIES}  # noqa: F401\n")
    quiet = {**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}

    def empty(folder: Path) -> list[str]:
        return [python, "-m", "pytest", "-q", "-m", "daily", "--assert=plain",
                "-p", "no:cacheprovider", "-p", "allure_pytest.plugin",
                f"--alluredir={folder}/allure", f"--junitxml={folder}/junit.xml",
                str(folder)]  # fmt: skip

    return {
        "floor: python -c pass": lambda: timed([python, "-c", "pass"], env, cwd=bare),
        "floor: import the required libraries": lambda: timed(
            [python, "-c", f"import {LIBRARIES}"], env, cwd=bare
        ),
        f"floor: pytest + allure + junit, {items} empty tests": lambda: timed(
            empty(bare), quiet, cwd=bare
        ),
        "floor: the same, the required libraries imported": lambda: timed(
            empty(full), quiet, cwd=full
        ),
    }


def daily_items(command: list[str], env: dict[str, str], out: Path) -> int:
    """How many checks the daily selection runs (one real run: a dry run does not join the
    sandbox whose variables the environment names)."""
    timed([*command, f"--out={out}"], env)
    return len(read_results(out / "results.json").checks)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--no-install", action="store_true", help="skip the variant installed from the wheel"
    )
    args = parser.parse_args()
    rounds = args.rounds
    install_root = Path(tempfile.mkdtemp(prefix="bench-install-"))
    installed = None if args.no_install else installed_command(install_root)
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
    # The installed command runs from its venv, outside the checkout, with no variable of ours
    # that would point Python at the checkout (PYTHONPATH...).
    installed_env = {k: v for k, v in env.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    # ... and joins the sandbox this bench started (installed, its default is the user's state
    # dir: it would boot a second sandbox).
    installed_env["LMS_OPSCHECK_SANDBOX_DIR"] = str(stack.DEFAULT_ROOT)
    installed_cli = [str(installed), *cli[len(command) :]] if installed else []
    variants: dict[str, Callable[[], float]] = {
        "pytest -m daily --env sandbox": lambda: timed(pytest, env),
        "lms-opscheck -m daily --env sandbox": lambda: timed(cli, env),
    }
    if installed is not None:
        variants[INSTALLED] = lambda: timed(installed_cli, installed_env, cwd=install_root)
    items = daily_items(cli[:-1], env, Path(out) / "count")
    python = str(installed.with_name("python")) if installed else sys.executable
    floor_runs = floors(python, items, installed_env if installed else env, install_root)
    healthy = alternate(
        rounds,
        {
            **variants,
            "shell (curl, psql, redis-cli)": lambda: timed(shell, shell_env),
            "shell + celery inspect ping": lambda: timed([*shell, "celery"], shell_env),
            "pytest --collect-only (floor)": lambda: timed([*pytest, "--collect-only"], env),
            "pytest, bytecode cache allowed": lambda: timed(pytest, bytecode_env),
            **floor_runs,
        },
    )
    report("healthy sandbox", healthy, "shell (curl, psql, redis-cli)")
    fair = healthy["shell + celery inspect ping"]
    alone = healthy["shell (curl, psql, redis-cli)"]
    print(f"  ({items} checks in the daily selection; floors run with {python})")
    for name in ("lms-opscheck -m daily --env sandbox", INSTALLED, *floor_runs):
        if name in healthy:
            print(
                f"  {name}: {healthy[name] / fair:.2f}x the fair peer (shell + celery inspect "
                f"ping; target <= 0.6x), {healthy[name] / alone:.1f}x the script (target <= 10x)"
            )

    with black_hole() as port:
        hung_env = Path(out) / "hung.yaml"
        # A request timeout far above the deadline: what ends the run must be the deadline.
        # (The black hole accepts at once; a connect timeout above the deadline is refused.)
        config = hung_config(port, deadline="2s")
        config["timeouts"].update(connect="2s", request="30s")
        hung_env.write_text(yaml.safe_dump(config))
        hung_shell = ["bash", "bench/daily.sh", f"http://127.0.0.1:{port}", str(port), str(port)]
        hung_times = alternate(
            max(3, rounds // 3),
            {
                HUNG: lambda: timed(
                    [*pytest[:-3], f"--env={hung_env}", f"--out={out}/h"], env, expect=1
                ),
                "shell (all hung, 2s timeouts)": lambda: timed(hung_shell, shell_env, expect=1),
            },
        )
    report(
        "every target hung (accepts TCP, never answers)",
        hung_times,
        "shell (all hung, 2s timeouts)",
    )
    excess = hung_times[HUNG] - healthy["pytest -m daily --env sandbox"]
    print(f"  hung run minus healthy run: {excess:.3f} s (bound: the 2 s deadline + 1 s)")
    if started:
        stack.down()
    shutil.rmtree(install_root, ignore_errors=True)


def report(title: str, medians: dict[str, float], baseline: str) -> None:
    print(f"\n{title}: medians of alternating runs")
    for name, value in medians.items():
        print(f"  {name:<42} {value:6.3f} s   {value / medians[baseline]:5.1f}x")


if __name__ == "__main__":
    main()
