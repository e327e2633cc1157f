"""Bad input ends in one clear line and the right exit code, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lms_opscheck import atomic
from lms_opscheck.config import ConfigError, load_environment
from lms_opscheck.config.loader import peek_embedded
from lms_opscheck.reports import compliance
from lms_opscheck.reports.runs import RunFolderError, load_run
from tests.support.runner import SuiteRun, run_suite

#: No targets: every daily check skips (exit 0) without touching any stack.
BARE = "name: bare\n"
WAIVER = """name: bare
waivers:
  - {control: HLT-01, reason: r, ticket: OPS-1, approver: lead, expires: 2020-13-45}
"""


def env_file(tmp_path: Path, text: str, name: str = "env.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def one_line_error(run: SuiteRun, code: int, expected: str) -> None:
    assert run.exit_code == code, run.output
    assert expected in run.output, run.output
    assert "Traceback" not in run.output and "INTERNALERROR" not in run.output, run.output


# 1. durations out of range ---------------------------------------------------------------


@pytest.mark.parametrize("rpo", ["99999999999999d", ".inf", "999999999999999999999999", "9" * 400])
def test_a_huge_duration_is_out_of_range_not_an_overflow(tmp_path: Path, rpo: str) -> None:
    path = env_file(tmp_path, f"name: t\npolicy: {{rpo: {rpo}}}\n")
    with pytest.raises(ConfigError) as raised:
        load_environment(str(path), environ={})
    message = str(raised.value)
    assert "\n" not in message
    assert "env.yaml" in message and "policy.rpo: duration out of range" in message


def test_cli_huge_duration_exits_4(tmp_path: Path) -> None:
    path = env_file(tmp_path, "name: t\npolicy: {rpo: .inf}\n")
    run = run_suite(f"--env={path}", "-m", "daily", out=tmp_path / "out")
    one_line_error(run, 4, "policy.rpo: duration out of range")


# 2. dates that YAML itself rejects -------------------------------------------------------


def test_an_impossible_date_is_malformed_yaml_with_its_line(tmp_path: Path) -> None:
    path = env_file(tmp_path, WAIVER)
    with pytest.raises(ConfigError) as raised:
        load_environment(str(path), environ={})
    message = str(raised.value)
    assert "\n" not in message
    assert "env.yaml: line 3: malformed YAML: invalid date '2020-13-45'" in message
    with pytest.raises(ConfigError, match="line 3: malformed YAML"):
        peek_embedded(str(path))  # refused before a sandbox could be booted for it


def test_cli_impossible_date_exits_4(tmp_path: Path) -> None:
    path = env_file(tmp_path, WAIVER)
    run = run_suite(f"--env={path}", "-m", "daily", out=tmp_path / "out")
    one_line_error(run, 4, "line 3: malformed YAML: invalid date '2020-13-45'")


# 3. --out that cannot be a run folder ----------------------------------------------------


def test_cli_out_is_an_existing_file_exits_4(tmp_path: Path) -> None:
    env, out = env_file(tmp_path, BARE), tmp_path / "a-file"
    out.write_text("not a folder")
    run = run_suite(f"--env={env}", "-m", "daily", out=out)
    one_line_error(run, 4, f"--out {out} is a file, not a folder")


def test_cli_out_that_cannot_be_created_exits_4(tmp_path: Path) -> None:
    env = env_file(tmp_path, BARE)
    run = run_suite(f"--env={env}", "-m", "daily", out=Path("/proc/nope/run"))
    one_line_error(run, 4, "--out /proc/nope/run: cannot write there: ")


# 4. outputs that cannot be written are reported, not raised --------------------------------


def test_cli_unwritable_textfile_is_one_summary_line_and_keeps_exit_0(tmp_path: Path) -> None:
    env = env_file(tmp_path, BARE)
    run = run_suite(
        f"--env={env}", "-m", "daily", "--textfile=/proc/nope/x.prom", out=tmp_path / "out"
    )
    one_line_error(run, 0, "textfile NOT WRITTEN: /proc/nope/x.prom: ")
    assert (tmp_path / "out" / "results.json").is_file()


def test_cli_unwritable_results_and_alerts_go_to_stderr_and_keep_exit_0(tmp_path: Path) -> None:
    env, out = env_file(tmp_path, BARE), tmp_path / "out"
    for name in ("results.json", "alerts.json"):
        (out / name).mkdir(parents=True)  # a folder where the file should go
    run = run_suite(f"--env={env}", "-m", "daily", out=out)
    one_line_error(run, 0, "results NOT WRITTEN: ")
    assert "ops-check: results NOT WRITTEN: " in run.stderr
    assert "ops-check: alerts NOT WRITTEN: " in run.stderr
    assert (out / "opscheck.prom").is_file()  # the other outputs are still written


def test_a_failed_textfile_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "x.prom"
    target.mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OSError):
        atomic.write_text(target, "x 1\n")
    assert [p.name for p in tmp_path.iterdir()] == ["x.prom"]


# 5. run folders with malformed content -----------------------------------------------------

RESULTS = {"schema": "opscheck.results/2", "run": {"started_at": "2026-11-28T02:00:00Z"}}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("results.json", {"schema": "opscheck.results/2"}, "run: Field required"),
        ("results.json", {"schema": "opscheck.results/1"}, "this reader knows opscheck.results/2"),
        ("results.json", {**RESULTS, "run": ["a list"]}, "run: Input should be"),
        ("results.json", "[1, 2]", "not a JSON object"),
        ("results.json", "{not json", "cannot read"),
    ],
)
def test_malformed_run_folder_is_one_error_line_and_exit_2(
    tmp_path: Path, capsys: Any, name: str, content: Any, expected: str
) -> None:
    run_dir = tmp_path / "out" / "prod" / "run"
    run_dir.mkdir(parents=True)
    text = content if isinstance(content, str) else json.dumps(content)
    (run_dir / name).write_text(text)
    with pytest.raises(RunFolderError, match="^" + str(run_dir / name)):
        load_run(run_dir)
    assert compliance.main([str(run_dir), "-o", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {run_dir / name}: ")
    assert expected in err


# 6. out/<env>/latest follows runs that executed checks --------------------------------------


def test_latest_is_not_moved_by_a_run_that_selected_nothing(tmp_path: Path) -> None:
    env, runs = env_file(tmp_path, BARE), tmp_path / "out" / "bare"
    first = run_suite(f"--env={env}", "-m", "daily", out=runs / "first")
    assert first.exit_code == 0, first.output
    assert (runs / "latest").readlink() == Path("first")
    empty = run_suite(f"--env={env}", "-m", "daily and not daily", out=runs / "empty")
    assert empty.exit_code == 5, empty.output
    assert (runs / "empty").is_dir()
    assert (runs / "latest").readlink() == Path("first")
