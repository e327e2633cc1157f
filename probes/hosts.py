"""Run a bounded command on a configured host: this machine, or a remote one through testinfra.

``local://`` runs commands here with ``subprocess`` (a hard timeout). Any other testinfra URI
(``ssh://root@db-1:22``, ``paramiko://``, ``docker://container``; ``winrm://`` for Windows hosts)
goes through ``testinfra.get_host``. testinfra's ssh backend waits on ssh without a timeout, so
remote commands are bounded three ways: ``ConnectTimeout`` (the environment's connect timeout,
unless the URI sets ``?timeout=N``), ``ServerAliveInterval`` for a peer that stops answering, and
coreutils ``timeout`` around the command on the remote side. ``BatchMode`` makes a missing key a
refusal instead of a password prompt. Remote listing uses GNU ``find``: Linux hosts (ssh, docker).

When ssh itself fails (exit status 255) its own words say why, and ``ssh_failure`` names the
cause in plain text: the name did not resolve, the port refused, the key was not accepted, the
host key is unknown or changed, no answer within the connect timeout, or (none of those) the
remote command itself exited with 255. A command that cannot be started here (not found, path
too long for the OS) is a one-line MeasurementError, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from lms_opscheck.config.model import Host
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Rejected, Unreachable

#: Exit status of coreutils ``timeout`` when it had to stop the command.
TIMED_OUT = 124
NOT_FOUND = 127
#: Seconds an idle ssh master outlives its last command: a run that dies before
#: ``close_master`` leaves no connection behind for longer than this.
CONTROL_PERSIST = 30


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

    def run(
        self, argv: Sequence[str], timeout: timedelta, env: Mapping[str, str] | None = None
    ) -> Completed: ...


def shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


@dataclass(frozen=True)
class LocalShell:
    label: str = "local://"
    is_local: bool = True

    def run(
        self, argv: Sequence[str], timeout: timedelta, env: Mapping[str, str] | None = None
    ) -> Completed:
        try:
            done = subprocess.run(
                list(argv),
                capture_output=True,
                timeout=timeout.total_seconds(),
                check=False,
                env={**os.environ, **env} if env else None,
            )
        except FileNotFoundError:
            return Completed(NOT_FOUND, b"", f"{shorten(argv[0])}: command not found".encode())
        except OSError as exc:  # a path too long, not executable, not a program
            raise MeasurementError(
                self.label, f"cannot run {shorten(argv[0])}: {exc.strerror or exc}"
            ) from None
        except subprocess.TimeoutExpired:
            raise NoAnswer(
                self.label, f"{shorten(argv[0])} did not finish within {timeout}"
            ) from None
        return Completed(done.returncode, done.stdout, done.stderr)


class RemoteShell:
    """A testinfra host; every command is wrapped in ``timeout`` on the remote side."""

    is_local = False

    def __init__(self, label: str, host: Any, connect_seconds: int = 0) -> None:
        self.label = label
        self._host = host
        self._connect_seconds = connect_seconds

    def run(
        self, argv: Sequence[str], timeout: timedelta, env: Mapping[str, str] | None = None
    ) -> Completed:
        seconds = max(1, int(timeout.total_seconds() + 0.999))
        settings = [f"{key}={value}" for key, value in (env or {}).items()]
        prefix = ["timeout", str(seconds), *(["env", *settings] if settings else [])]
        command = shlex.join([*prefix, *argv])
        try:
            result = self._host.run(command)
        except RuntimeError as exc:  # testinfra: ssh itself failed (exit status 255)
            raise ssh_failure(self.label, _stderr_of(exc), self._connect_seconds) from None
        except Exception as exc:  # paramiko, docker, winrm: each raises its own
            raise Unreachable(self.label, f"{type(exc).__name__}: {exc}"[:400]) from None
        if result.rc == TIMED_OUT:
            raise NoAnswer(self.label, f"{shorten(argv[0])} did not finish within {seconds}s")
        return Completed(int(result.rc), result.stdout_bytes, result.stderr_bytes)


def shell_for(name: str, host: Host, connect: timedelta, control_path: Path | None = None) -> Shell:
    """The shell of host ``name`` as configured; ssh connects within ``connect``.

    With ``control_path`` (a socket path of this host alone), ssh keeps one master connection
    there (ControlMaster/ControlPersist), so the host's later commands skip the handshake; the
    caller ends it with ``close_master``.
    """
    if host.uri.rstrip("/") in ("local:", "local://", "local"):
        return LocalShell()
    import testinfra

    seconds = max(1, int(connect.total_seconds() + 0.999))
    options: dict[str, Any] = {"timeout": seconds, "controlpersist": 0}
    if host.uri.startswith(("ssh://", "safe-ssh://")):
        options["ssh_extra_args"] = (
            f"-o BatchMode=yes -o ServerAliveInterval={seconds} -o ServerAliveCountMax=2"
        )
        if control_path is not None:
            # In the extra args, not testinfra's controlpath: testinfra %-formats its command
            # line and escapes only the extra args. A literal path, one per configured host
            # (ssh's %C would give 20 aliases of one machine a single master).
            options["ssh_extra_args"] += (
                f" -o ControlMaster=auto -o ControlPersist={CONTROL_PERSIST}s"
                f" -o ControlPath={control_path}"
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
    return RemoteShell(host.uri.split("?")[0], remote, seconds)


def close_master(control_path: Path) -> None:
    """End the ssh master connection kept at ``control_path``, if one is there (bounded)."""
    if not control_path.exists():
        return
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            ["ssh", "-o", f"ControlPath={control_path}", "-O", "exit", "opscheck-master"],
            capture_output=True,
            timeout=5,
            check=False,
        )


def _stderr_of(exc: RuntimeError) -> str:
    """ssh's own words from testinfra's RuntimeError, which wraps the whole CommandResult."""
    result = exc.args[0] if exc.args else None
    raw = getattr(result, "stderr_bytes", None)
    if isinstance(raw, bytes):
        return raw.decode(errors="replace")
    return str(result) if result is not None else ""


#: What ssh's words mean, in the order they are told apart (the first match wins).
_SSH_CAUSES: tuple[tuple[re.Pattern[str], type[MeasurementError], str], ...] = tuple(
    (re.compile(words, re.IGNORECASE), kind, summary)
    for words, kind, summary in (
        (
            r"could not resolve hostname|name or service not known|"
            r"temporary failure in name resolution|no address associated|nodename nor servname",
            Unreachable,
            "ssh could not resolve the host name",
        ),
        (
            r"host key verification failed|remote host identification has changed|"
            r"no \S+ host key is known|host key for .* has changed",
            Rejected,
            "ssh host key verification failed (unknown or changed host key)",
        ),
        (
            r"permission denied|too many authentication failures|"
            r"no supported authentication methods|authentication failed",
            Rejected,
            "ssh authentication failed (the server did not accept the key)",
        ),
        (
            r"connection refused",
            Unreachable,
            "ssh connection refused (nothing listens on that port, or a firewall rejects it)",
        ),
        (r"timed out|timeout", NoAnswer, "ssh got no answer within the connect timeout"),
        (
            r"no route to host|network is unreachable|connection reset|"
            r"connection closed by|broken pipe",
            Unreachable,
            "ssh could not reach the host",
        ),
    )
)


def ssh_failure(label: str, stderr: str, connect_seconds: int = 0) -> MeasurementError:
    """What an ssh exit status 255 means, in plain words, with ssh's own line as the detail."""
    lines = [ln.strip() for ln in stderr.replace("\r", "\n").splitlines()]
    # "Warning: Permanently added ... to the list of known hosts" is noise, not the cause.
    lines = [ln for ln in lines if ln and not ln.startswith("Warning: Permanently added")]
    detail = shorten(" ".join(" ".join(lines).split()), 300) or "no message from ssh"
    for pattern, kind, summary in _SSH_CAUSES:
        if pattern.search(detail):
            if kind is NoAnswer and connect_seconds:
                summary += f" ({connect_seconds}s)"
            return kind(label, f"{summary}: {detail}")
    # ssh connected; the remote command itself exited with 255.
    return MeasurementError(label, f"the remote command failed (exit status 255): {detail}")
