"""Run a bounded command on a configured host: this machine, or a remote one through testinfra.

``local://`` runs commands here with ``subprocess`` (a hard timeout). Any other testinfra URI
(``ssh://root@db-1:22``, ``paramiko://``, ``docker://container``; ``winrm://`` for Windows hosts)
goes through ``testinfra.get_host``. testinfra's ssh backend waits on ssh without a timeout, so
remote commands are bounded three ways: ``ConnectTimeout`` (the environment's connect timeout,
unless the URI sets ``?timeout=N``), ``ServerAliveInterval`` for a peer that stops answering, and
coreutils ``timeout`` around the command on the remote side. ``BatchMode`` makes a missing key a
refusal instead of a password prompt. Remote listing uses GNU ``find``: Linux hosts (ssh, docker).
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from lms_opscheck.config.model import Host
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Rejected, Unreachable

#: Exit status of coreutils ``timeout`` when it had to stop the command.
TIMED_OUT = 124
NOT_FOUND = 127


@dataclass(frozen=True)
class Completed:
    rc: int
    stdout: bytes
    stderr: bytes

    @property
    def error_text(self) -> str:
        lines = [ln.strip() for ln in self.stderr.decode(errors="replace").splitlines()]
        return "; ".join(ln for ln in lines if ln)[:400] or f"exit status {self.rc}"


class Shell(Protocol):
    """Where a probe runs commands: ``label`` names the host in every message."""

    @property
    def label(self) -> str: ...

    @property
    def is_local(self) -> bool: ...

    def run(self, argv: Sequence[str], timeout: timedelta) -> Completed: ...


@dataclass(frozen=True)
class LocalShell:
    label: str = "local://"
    is_local: bool = True

    def run(self, argv: Sequence[str], timeout: timedelta) -> Completed:
        try:
            done = subprocess.run(
                list(argv), capture_output=True, timeout=timeout.total_seconds(), check=False
            )
        except FileNotFoundError:
            return Completed(NOT_FOUND, b"", f"{argv[0]}: command not found".encode())
        except subprocess.TimeoutExpired:
            raise NoAnswer(self.label, f"{argv[0]} did not finish within {timeout}") from None
        return Completed(done.returncode, done.stdout, done.stderr)


class RemoteShell:
    """A testinfra host; every command is wrapped in ``timeout`` on the remote side."""

    is_local = False

    def __init__(self, label: str, host: Any) -> None:
        self.label = label
        self._host = host

    def run(self, argv: Sequence[str], timeout: timedelta) -> Completed:
        seconds = max(1, int(timeout.total_seconds() + 0.999))
        command = f"timeout {seconds} {shlex.join(argv)}"
        try:
            result = self._host.run(command)
        except RuntimeError as exc:  # testinfra: ssh itself failed (exit status 255)
            raise _classify(self.label, str(exc)) from None
        except Exception as exc:  # paramiko, docker, winrm: each raises its own
            raise Unreachable(self.label, f"{type(exc).__name__}: {exc}"[:400]) from None
        if result.rc == TIMED_OUT:
            raise NoAnswer(self.label, f"{argv[0]} did not finish within {seconds}s")
        return Completed(int(result.rc), result.stdout_bytes, result.stderr_bytes)


def shell_for(name: str, host: Host, connect: timedelta) -> Shell:
    """The shell of host ``name`` as configured; ssh connects within ``connect``."""
    if host.uri.rstrip("/") in ("local:", "local://", "local"):
        return LocalShell()
    import testinfra

    seconds = max(1, int(connect.total_seconds() + 0.999))
    options: dict[str, Any] = {"timeout": seconds, "controlpersist": 0}
    if host.uri.startswith(("ssh://", "safe-ssh://")):
        options["ssh_extra_args"] = (
            f"-o BatchMode=yes -o ServerAliveInterval={seconds} -o ServerAliveCountMax=2"
        )
    if host.identity_file is not None:
        options["ssh_identity_file"] = str(host.identity_file)
    if host.ssh_config is not None:
        options["ssh_config"] = str(host.ssh_config)
    try:
        remote = testinfra.get_host(host.uri, **options)
    except Exception as exc:
        raise MeasurementError(
            f"{name} ({host.uri})", f"not a usable testinfra host: {exc}"
        ) from None
    return RemoteShell(host.uri.split("?")[0], remote)


def _classify(label: str, text: str) -> MeasurementError:
    lowered = text.lower()
    cause = _ssh_stderr(text)
    if "permission denied" in lowered or "host key verification failed" in lowered:
        return Rejected(label, f"ssh refused the login ({cause})")
    if "timed out" in lowered or "timeout" in lowered:
        return NoAnswer(label, f"ssh got no answer within the connect timeout ({cause})")
    return Unreachable(label, f"ssh failed ({cause})")


def _ssh_stderr(text: str) -> str:
    # testinfra's RuntimeError quotes the whole CommandResult; keep ssh's own words.
    marker = "stderr="
    if marker in text:
        text = text.split(marker, 1)[1]
    return " ".join(text.replace("\\r", " ").replace("\\n", " ").split())[:300]
