"""Leases: which runs use a sandbox right now, so that the last one out stops what a run started.

A lease is a file ``<root>/leases/<pid>.json`` holding the run's pid and that process's start time.
It counts while that very process lives: a run killed with SIGKILL (or a pid reused by another
program) holds nothing, so a crashed run never keeps a stack up forever. Callers hold the
sandbox's lock (``state.locked``) around every function here, so that "am I the last?" and "take
a lease" cannot interleave.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from lms_opscheck.sandbox.processes import is_alive, start_time


@dataclass(frozen=True)
class Lease:
    pid: int
    started: str | None  # the process's start time (clock ticks since boot)
    since: str  # when the lease was taken (ISO 8601, UTC)

    @property
    def live(self) -> bool:
        return is_alive(self.pid) and (self.started is None or start_time(self.pid) == self.started)


def folder(root: Path) -> Path:
    return root / "leases"


def take(root: Path, pid: int | None = None) -> Lease:
    """Record that process ``pid`` (default: this one) uses the sandbox in ``root``."""
    pid = pid or os.getpid()
    lease = Lease(pid, start_time(pid), datetime.now(UTC).isoformat(timespec="seconds"))
    folder(root).mkdir(parents=True, exist_ok=True)
    partial = folder(root) / f".{pid}.partial"
    partial.write_text(json.dumps({"pid": pid, "started": lease.started, "since": lease.since}))
    partial.replace(folder(root) / f"{pid}.json")  # never seen half-written
    return lease


def release(root: Path, pid: int | None = None) -> None:
    (folder(root) / f"{pid or os.getpid()}.json").unlink(missing_ok=True)


def holders(root: Path) -> list[Lease]:
    """The live leases, oldest first; files of runs that no longer live are removed."""
    live: list[Lease] = []
    for path in sorted(folder(root).glob("*.json")):
        lease = _read(path)
        if lease is None:
            continue  # not a lease file of ours
        if lease.live:
            live.append(lease)
        else:
            path.unlink(missing_ok=True)
    return sorted(live, key=lambda lease: lease.since)


def _read(path: Path) -> Lease | None:
    try:
        data = json.loads(path.read_text())
        return Lease(int(data["pid"]), data.get("started"), str(data.get("since", "")))
    except (OSError, ValueError, TypeError, KeyError):
        return None
