"""A lease counts while the process that took it lives: crashed runs and reused pids hold none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lms_opscheck.sandbox import leases


def _exited_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_live_run_holds_its_lease_until_it_releases_it(tmp_path: Path) -> None:
    taken = leases.take(tmp_path)
    assert taken.pid == os.getpid() and taken.live
    assert leases.holders(tmp_path) == [taken]
    leases.release(tmp_path)
    assert leases.holders(tmp_path) == []
    assert list(leases.folder(tmp_path).iterdir()) == []


def test_the_lease_of_a_process_that_exited_is_removed(tmp_path: Path) -> None:
    dead = _exited_pid()
    leases.take(tmp_path)
    path = leases.folder(tmp_path) / f"{dead}.json"
    path.write_text(json.dumps({"pid": dead, "started": "1", "since": "2026-11-28T00:00:00+00:00"}))
    assert [lease.pid for lease in leases.holders(tmp_path)] == [os.getpid()]
    assert not path.exists()


def test_a_pid_now_used_by_another_process_holds_nothing(tmp_path: Path) -> None:
    # Our own pid, but a start time that is not ours: the run that wrote it is gone.
    path = leases.folder(tmp_path) / f"{os.getpid()}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": os.getpid(), "started": "1", "since": "x"}))
    assert leases.holders(tmp_path) == []
    assert not path.exists()


def test_files_that_are_not_leases_are_left_alone(tmp_path: Path) -> None:
    folder = leases.folder(tmp_path)
    folder.mkdir(parents=True)
    (folder / "notes.json").write_text("not json")
    (folder / ".123.partial").write_text("{")
    assert leases.holders(tmp_path) == []
    assert sorted(p.name for p in folder.iterdir()) == [".123.partial", "notes.json"]
