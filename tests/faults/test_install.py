"""Installed from its wheel into a fresh virtualenv, the suite runs from any folder, twice.

Options with existing paths (the second run's ``--out``, ``--textfile``, ``--allure-history``)
used to stop the plugin from loading: pytest picked its rootdir from them before it knew ours.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import venv
from pathlib import Path

import pytest

from lms_opscheck import cli
from lms_opscheck.record import read_results
from lms_opscheck.sandbox import stack
from tests.support.runner import REPO, write_env
from tests.support.stacks import sandbox_config


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel built from this checkout (non-editable), sandbox extra."""
    root = tmp_path_factory.mktemp("install")
    wheels = root / "wheels"
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            str(REPO),
        ],
        cwd=root,
    )
    (wheel,) = wheels.glob("lms_opscheck-*.whl")
    target = root / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    run([str(target / "bin" / "pip"), "install", "-q", f"{wheel}[sandbox]"], cwd=root, timeout=900)
    return target


def test_the_installed_command_runs_the_sandbox_daily_twice_from_anywhere(
    installed: Path, tmp_path: Path
) -> None:
    sandbox_root = Path(tempfile.mkdtemp(prefix="opscheck-installed-"))
    sandbox_root.chmod(0o755)
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    out, textfile = tmp_path / "run", tmp_path / "textfile" / "opscheck.prom"
    history = tmp_path / "history" / "allure.jsonl"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))},
        # PostgreSQL runs as nobody: its folder cannot live under pytest's 0700 tmp folder.
        "LMS_OPSCHECK_SANDBOX_DIR": str(sandbox_root),
        "PATH": f"{installed / 'bin'}:{os.environ['PATH']}",
    }
    command = [
        str(installed / "bin" / "lms-opscheck"),
        "-m",
        "daily",
        "--env",
        "sandbox",
        "--out",
        str(out),
        "--textfile",
        str(textfile),
        "--allure-history",
        str(history),
    ]
    try:
        for attempt in (1, 2):  # the second run meets every path already there
            stdout = run(command, cwd=elsewhere, env=env)
            assert stdout.strip().splitlines()[-1].startswith("ops-check sandbox: OK — "), stdout
            results = read_results(out / "results.json")
            assert results.summary.passed >= 10 and results.summary.errors == 0
            assert results.checks[0].nodeid.startswith("checks/"), results.checks[0].nodeid
            assert "ops_check_up{" in textfile.read_text()
            module = run(
                [
                    str(installed / "bin" / "python"),
                    "-c",
                    "import lms_opscheck.record as r; print(r.__file__)",
                ],
                cwd=elsewhere,
                env=env,
            )
            assert str(installed) in module and str(REPO) not in module, (attempt, module)
    finally:
        subprocess.run(
            [str(installed / "bin" / "lms-opscheck-sandbox"), "down"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(sandbox_root, ignore_errors=True)
    assert not list(elsewhere.iterdir())  # nothing written where it was started but out/


def test_the_command_pins_its_own_configuration_and_plugins() -> None:
    args = cli.pytest_args(["-m", "daily", "-n", "2"])
    assert args[-1] == str(cli.CHECKS) and "-c" in args and str(cli.INI) in args
    assert "xdist.plugin" in args and "lms_opscheck.plugin" in args
    assert "xdist.plugin" not in cli.pytest_args(["-m", "daily"])


def test_the_command_hands_pytest_its_plugins_already_imported_in_pytests_order() -> None:
    # Registered by name before pytest reads -p and pytest_plugins, so it never searches the
    # installed distributions' entry points for them; the -p options stay for xdist's workers.
    import lms_opscheck.plugin as suite

    modules = cli.plugin_modules(["-m", "daily"])
    names = [m.__name__ for m in modules]
    assert names[-2:] == ["lms_opscheck.plugin", "allure_pytest.plugin"]
    assert [n for n in names if n in suite.pytest_plugins] == suite.pytest_plugins  # its order
    for module in modules:
        listed = getattr(module, "pytest_plugins", [])
        # A module that lists others is registered after them: it must have no hook to reorder.
        assert not listed or not [h for h in vars(module) if h.startswith("pytest_") and
                                  h != "pytest_plugins"], module.__name__  # fmt: skip
        assert all(names.index(each) < names.index(module.__name__) for each in listed)
    assert [m.__name__ for m in cli.plugin_modules(["-n", "2"])][-1] == "xdist.plugin"
    args = cli.pytest_args(["-m", "daily"])
    for name in cli.PLUGINS:
        assert args[args.index(name) - 1] == "-p", args


def test_no_plugin_module_is_imported_before_pytest_registers_it() -> None:
    # One imported by an earlier one cannot have its asserts rewritten: pytest in the checkout
    # then warns (PytestAssertRewriteWarning) on every run of the README's first command.
    walk = (
        "import importlib, sys\n"
        "def walk(name):\n"
        "    if name in sys.modules:\n"
        "        print(name)\n"
        "    for each in getattr(importlib.import_module(name), 'pytest_plugins', []):\n"
        "        walk(each)\n"
        "walk('lms_opscheck.plugin')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", walk], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert done.stdout == "", f"imported before pytest registers them: {done.stdout.split()}"


def test_the_bundled_ini_says_what_the_checkouts_pyproject_says() -> None:
    bundled = configparser.ConfigParser()
    bundled.read(cli.INI)
    checkout = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    addopts = bundled["pytest"]["addopts"].split()
    assert {"--strict-markers", "--strict-config"} <= set(checkout["addopts"]) & set(addopts)
    assert bundled["pytest"]["xfail_strict"] == str(checkout["xfail_strict"]).lower()
    assert bundled["pytest"]["minversion"] == checkout["minversion"]


def test_pytest_in_the_checkout_takes_existing_paths_in_both_spellings(
    tmp_path: Path, shared_stack: stack.State
) -> None:
    env_file = write_env(tmp_path / "env.yaml", sandbox_config(shared_stack))
    out, textfile = tmp_path / "out", tmp_path / "opscheck.prom"
    out.mkdir()
    textfile.write_text("")
    history = tmp_path / "history.jsonl"
    history.write_text("")
    spellings = [
        ["--env", str(env_file), "--out", str(out), "--textfile", str(textfile)],
        [f"--env={env_file}", f"--out={out}", f"--textfile={textfile}"],
    ]
    for options in spellings:
        argv = [sys.executable, "-m", "pytest", "-m", "daily", *options]
        stdout = run([*argv, "--allure-history", str(history)], cwd=REPO)
        assert stdout.strip().splitlines()[-1].startswith("ops-check selftest: OK"), stdout
        assert read_results(out / "results.json").summary.errors == 0
