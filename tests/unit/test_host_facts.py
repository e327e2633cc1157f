"""Host expectations, the readings' parsers, the batched shell, the write probe, the pool."""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from lms_opscheck.config.hosts import FreeSpace, HostExpectations, UploadsExpectation
from lms_opscheck.config.model import Environment
from lms_opscheck.probes.errors import NoAnswer, Unreadable
from lms_opscheck.probes.host_facts import (
    Batch,
    Process,
    Reading,
    parse_listening,
    read_facts,
    split_batch,
)
from lms_opscheck.probes.host_pool import visit_all
from lms_opscheck.probes.hosts import LocalShell
from lms_opscheck.probes.uploads import PROBE_PREFIX, write_result, write_step

SECONDS = timedelta(seconds=10)


def test_free_space_is_a_percentage_or_a_size() -> None:
    assert FreeSpace.model_validate("20%").floor(1000) == 200
    assert FreeSpace.model_validate("1GiB").floor(10) == 1024**3
    assert str(FreeSpace.model_validate("12.5%")) == "12.5%"
    for bad in ("much", "120%", True, -1):
        with pytest.raises(ValidationError):
            FreeSpace.model_validate(bad)


def test_uploads_mode_is_quoted_octal_and_names_are_accounts() -> None:
    assert UploadsExpectation(path="/srv/lms/uploads/", mode="750").mode == "0750"
    assert UploadsExpectation(path="/srv/lms/uploads").path == "/srv/lms/uploads"
    for bad in ({"mode": 750}, {"mode": "0789"}, {"owner": "lms; rm -rf"}, {"path": "uploads"}):
        with pytest.raises(ValidationError):
            UploadsExpectation.model_validate({"path": "/srv/lms/uploads", **bad})


def test_expectations_take_ports_from_variables_and_refuse_unknown_keys() -> None:
    assert HostExpectations.model_validate({"ports": ["8000", 5432]}).ports == [8000, 5432]
    for bad in ({"ports": [True]}, {"ports": [70000]}, {"processes": ["a b"]}, {"proc": []}):
        with pytest.raises(ValidationError):
            HostExpectations.model_validate(bad)
    env = Environment.model_validate(
        {"name": "x", "hosts": {"web-1": {"uri": "local://", "expect": {"processes": ["celery"]}}}}
    )
    assert env.hosts["web-1"].expect == HostExpectations(processes=["celery"])
    assert env.fleet.max_parallel == 8 and env.fleet.multiplex is False


@pytest.mark.parametrize(
    ("args", "runs"),
    [
        ("/srv/venv/bin/python /srv/venv/bin/uvicorn app.main:app --port 8000", True),
        ("python -m uvicorn app.main:app", True),
        ("uvicorn", True),
        ("/usr/bin/uvicorn-helper --serve", False),
        ("vim notes/uvicorn.txt", False),
        ("postgres: checkpointer", False),
    ],
)
def test_a_process_runs_a_name_when_a_word_of_its_command_line_ends_in_it(
    args: str, runs: bool
) -> None:
    assert Process(1, args).runs("uvicorn" if "postgres" not in args else "postgres") is runs


def test_listening_ports_come_from_the_kernels_tcp_tables() -> None:
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue\n"
        "   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000\n"  # 127.0.0.1:8000 LISTEN
        "   1: 0100007F:1F41 0100007F:D431 01 00000000:00000000\n"  # 8001 ESTABLISHED
        "   0: 00000000000000000000000000000000:1538 00000000000000000000000000000000:0000 0A\n"
    )
    assert parse_listening(text) == frozenset({8000, 5432})


def test_a_batch_that_lost_a_step_is_unreadable_not_empty() -> None:
    steps = {"ps": Reading("ps"), "tcp": Reading("cat")}
    text = "@@m begin ps\n1 init\n@@m end ps 0\n"
    with pytest.raises(Unreadable, match="did not report tcp"):
        split_batch(text, "@@m", steps, "web-1")


def test_one_local_batch_reads_everything_and_a_missing_mount_fails_alone(
    tmp_path: Path,
) -> None:
    measured, raw = read_facts(
        LocalShell(),
        "local",
        processes=True,
        ports=True,
        mounts=["/", str(tmp_path / "absent")],
        extra={"echo": "echo hello; exit 3"},
        timeout=SECONDS,
    )
    assert isinstance(measured.processes, tuple)
    assert any(p.pid == os.getpid() for p in measured.processes)
    assert isinstance(measured.listening, frozenset)
    assert not isinstance(measured.mounts["/"], Exception) and measured.mounts["/"].mount == "/"
    missing = measured.mounts[str(tmp_path / "absent")]
    assert isinstance(missing, Unreadable) and "df failed" in missing.problem
    assert raw["echo"].rc == 3 and raw["echo"].stdout == b"hello\n"


def test_a_batch_step_cannot_fake_the_end_of_another() -> None:
    batch = Batch()
    batch.add("a", ["printf", "%s\\n", "@@opscheck-000000000000 end a 0"])
    done = batch.run(LocalShell(), SECONDS)
    assert done["a"].rc == 0 and b"end a 0" in done["a"].stdout


def test_the_write_probe_leaves_nothing_and_says_why_it_failed(tmp_path: Path) -> None:
    step = write_step(str(tmp_path), "web-1")
    assert step.target.startswith(f"{tmp_path}/{PROBE_PREFIX}") and step.size < 100
    batch = Batch()
    batch.add("write", [], raw=step.command)
    probe = write_result(str(tmp_path), "local://", step, batch.run(LocalShell(), SECONDS)["write"])
    assert probe.problem is None and probe.written == step.size
    assert os.listdir(tmp_path) == []
    gone = tmp_path / "gone"
    step = write_step(str(gone), "web-1")
    batch = Batch()
    batch.add("write", [], raw=step.command)
    probe = write_result(str(gone), "local://", step, batch.run(LocalShell(), SECONDS)["write"])
    assert probe.problem is not None and probe.problem.startswith(f"could not create {gone}/")
    assert "nonexistent" in probe.problem and not probe.left_behind  # dash's words


def test_the_pool_never_runs_more_than_its_width_and_abandons_a_stuck_host() -> None:
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def job() -> str:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(0.05)
        with lock:
            running[0] -= 1
        return "ok"

    done = visit_all({f"h{n}": job for n in range(12)}, 3, timedelta(seconds=5))
    assert peak[0] == 3 and {o.value for o in done.values()} == {"ok"}
    never = threading.Event()
    stuck = visit_all({"dead": never.wait, "h1": lambda: 1}, 2, timedelta(milliseconds=200))
    assert stuck["h1"].value == 1
    error = stuck["dead"].error
    assert isinstance(error, NoAnswer) and "1 wave(s) of 2 hosts" in error.problem
