"""Start, find and stop the sandbox's processes (they outlive `python -m sandbox up`)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(
    argv: Sequence[str],
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start a detached process (own session) logging to ``log``; return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    return process.pid


def is_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _proc_state(pid) != "Z"  # a zombie child of ours is not alive


def is_paused(pid: int | None) -> bool:
    """Stopped by SIGSTOP: the kernel still accepts its connections, nothing answers them."""
    return is_alive(pid) and _proc_state(pid or 0) in ("T", "t")


def pause(pid: int | None) -> None:
    if is_alive(pid):
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)


def resume(pid: int | None) -> None:
    if is_alive(pid):
        assert pid is not None
        os.kill(pid, signal.SIGCONT)


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: with the pid, it names one process.

    A pid alone may be reused by an unrelated process after the first one exited.
    """
    fields = _proc_fields(pid)
    return fields[19] if len(fields) > 19 else None


def _proc_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces): state is field 0."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return []


def _proc_state(pid: int) -> str:
    fields = _proc_fields(pid)
    return fields[0] if fields else "?"


def stop(pid: int | None, grace: float = 5.0) -> None:
    """SIGTERM the process group, then SIGKILL after ``grace`` seconds.

    SIGCONT follows SIGTERM: a paused process (``fault hang``) only acts on it once resumed.
    """
    if not is_alive(pid):
        return
    assert pid is not None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for each in (sig, signal.SIGCONT):
            try:
                os.killpg(pid, each)
            except ProcessLookupError:
                return
            except PermissionError:
                os.kill(pid, each)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            _reap(pid)
            if not is_alive(pid):
                return
            time.sleep(0.05)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(
    ready: Callable[[], bool], timeout: float, what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except Exception:  # not ready yet: keep polling until the deadline
            pass
        time.sleep(0.05)
    tail = ""
    if log is not None and log.exists():
        tail = " | last log lines: " + " / ".join(log.read_text(errors="replace").splitlines()[-5:])
    raise RuntimeError(f"{what} did not become ready within {timeout:.0f}s{tail}")


def port_accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
