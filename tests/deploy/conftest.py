"""Fixtures for the deployment examples' tests: the tools that check them, and one real run."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.runner import REPO, SuiteRun, run_suite, write_env
from tests.support.stacks import closed_port, isolated_stack, sandbox_config

DEPLOY = REPO / "deploy"


def tool(name: str, package: str) -> str:
    """The path of a command-line tool, or skip the test naming the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package}); .ci/run installs it")
    return path


def run(
    *command: str, cwd: Path | None = None, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def references(environment_yaml: str) -> set[str]:
    """The ${VAR} names an environment file's values reference (comments do not count)."""

    def strings(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [s for v in node.values() for s in strings(v)]
        if isinstance(node, list):
            return [s for v in node for s in strings(v)]
        return [node] if isinstance(node, str) else []

    found = strings(yaml.safe_load(environment_yaml))
    return {name for text in found for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text)}


@dataclass(frozen=True)
class RealRun:
    """A daily run of the suite against a real sandbox stack with one unreachable API replica."""

    suite: SuiteRun
    textfile: Path
    dead_replica: str

    @property
    def text(self) -> str:
        return self.textfile.read_text()


@pytest.fixture(scope="session")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealRun]:
    # PostgreSQL runs as `nobody`: the stack lives outside pytest's 0700 tmp (as tests/conftest).
    root = Path(tempfile.mkdtemp(prefix="opscheck-deploy-stack-"))
    root.chmod(0o755)
    out = tmp_path_factory.mktemp("real-run")
    try:
        with isolated_stack(root / "stack") as state:
            dead = f"http://127.0.0.1:{closed_port()}"
            config = sandbox_config(
                state, targets={"api": {"replicas": [f"http://127.0.0.1:{state.api_port}", dead]}}
            )
            env_file = write_env(out / "env.yaml", config)
            textfile = out / "collector" / "opscheck_selftest.prom"
            suite = run_suite(
                "-m", "daily", f"--env={env_file}", f"--textfile={textfile}", out=out / "run"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert suite.exit_code == 1, suite.output  # the dead replica is a critical finding
    assert textfile.is_file(), suite.output
    yield RealRun(suite, textfile, dead)
