"""The fuzz corpus that found issue 9's items 7-11, kept: a bad file is one ConfigError line.

A few hundred generated files (tests/support/fuzz_envs.py, fixed seed) are loaded in one
subprocess with a 1 GiB address-space limit and a timeout, so that a regression (an alias bomb
that expands again, a hang) fails here instead of eating the machine; a sample of them goes
through the real command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lms_opscheck.config import load_environment
from tests.support import fuzz_envs
from tests.support.runner import REPO, SuiteRun, run_suite

resource = pytest.importorskip("resource")  # RLIMIT_AS: Linux and other Unixes

#: Bounds for the whole corpus, not speed assertions: it loads in a few seconds here.
ADDRESS_SPACE = 1 << 30
CORPUS_TIMEOUT = 180
CASES = fuzz_envs.corpus()
FORBIDDEN = fuzz_envs.forbidden_values()


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("fuzz") / "corpus"
    completed = subprocess.run(
        [sys.executable, "-m", "tests.support.fuzz_envs", str(folder)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CORPUS_TIMEOUT,
        preexec_fn=_limit_address_space,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = [json.loads(line) for line in completed.stdout.splitlines()]
    return {row["name"]: row for row in rows}


def test_the_corpus_is_a_few_hundred_files_and_all_were_loaded(
    results: dict[str, dict[str, Any]],
) -> None:
    assert len(CASES) >= 300
    assert sorted(results) == sorted(case.name for case in CASES)
    assert len({case.family for case in CASES}) >= 20


def problems_in(message: str) -> list[str]:
    found = []
    if "\n" in message or "\r" in message:
        found.append("more than one line")
    if "canary" in message.lower():
        found.append("quotes inserted text or a secret")
    found += [f"quotes the value {value!r}" for value in FORBIDDEN if value in message]
    if "Traceback" in message:
        found.append("a traceback")
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_bad_file_is_one_config_error_line_that_quotes_nothing(
    case: fuzz_envs.Case, results: dict[str, dict[str, Any]]
) -> None:
    result = results[case.name]
    assert result["outcome"] != "crash", result["message"]
    if case.must_fail:
        assert result["outcome"] == "config_error", f"{case.name} was accepted"
    if result["outcome"] == "config_error":
        assert case.name in result["message"], "the message names the file"
        assert not problems_in(result["message"]), result["message"]
    assert result["pure_outcome"] != "crash", result["pure_message"]
    assert not problems_in(result["pure_message"]), result["pure_message"]


# -- through the command line -----------------------------------------------------------------


def cli_sample() -> list[fuzz_envs.Case]:
    """The first failing, non-embedded case of each family (the sandbox ones would boot it)."""
    chosen: dict[str, fuzz_envs.Case] = {}
    for case in CASES:
        if case.must_fail and case.base != "sandbox":
            chosen.setdefault(case.family, case)
    return list(chosen.values())


def test_the_cli_sample_covers_about_twenty_families() -> None:
    assert len(cli_sample()) >= 18


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SuiteRun]:
    root = tmp_path_factory.mktemp("fuzz-cli")
    sample = cli_sample()
    fuzz_envs.write(sample, root / "corpus")

    def run(case: fuzz_envs.Case) -> SuiteRun:
        return run_suite(
            f"--env={root / 'corpus' / case.name}",
            "-m",
            "daily",
            out=root / "out" / case.name,
            env=fuzz_envs.ENVIRON,
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores here; each run is mostly start-up
        return dict(zip((case.name for case in sample), pool.map(run, sample), strict=True))


@pytest.mark.parametrize("case", cli_sample(), ids=lambda case: case.name)
def test_a_bad_file_on_the_command_line_exits_4_with_one_line(
    case: fuzz_envs.Case, cli_runs: dict[str, SuiteRun]
) -> None:
    run = cli_runs[case.name]
    assert run.exit_code == 4, run.output
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    assert case.name in lines[0]
    assert "INTERNALERROR" not in run.output
    assert not problems_in(run.output.strip()), run.output
    assert not run.run_dir.exists(), "no run folder for a configuration that was refused"


def test_a_system_file_given_as_environment_is_refused_without_quoting_it(
    tmp_path: Path,
) -> None:
    shadow = Path("/etc/shadow")
    if not shadow.is_file():
        pytest.skip("no /etc/shadow on this machine")
    lines = [line.strip() for line in shadow.read_text(errors="replace").splitlines()]
    run = run_suite(f"--env={shadow}", "-m", "daily", out=tmp_path / "out")
    assert run.exit_code == 4, run.output
    assert "/etc/shadow: not an environment file" in run.stderr
    assert not [line for line in lines if len(line) >= 6 and line in run.output]
    assert "root:" not in run.output


@pytest.mark.parametrize("base", sorted(fuzz_envs.BASES))
def test_every_base_loads_with_the_corpus_variables(base: str, tmp_path: Path) -> None:
    # A base that fails to load would make every mutation "fail" for the wrong reason.
    path = tmp_path / f"{base}.yaml"
    path.write_text(fuzz_envs.base_text(base))
    load_environment(str(path), environ=fuzz_envs.ENVIRON)
