"""Fault switches: break a sandbox on purpose, the way production breaks, and mend it again.

Each switch works on any sandbox root (the default one, or a self-test's private stack) and is
also a subcommand of ``lms-opscheck-sandbox``:

==================  ==========================================  =================================
switch              what breaks                                 CLI
==================  ==========================================  =================================
``api_500``         ``GET /api/v1/health`` answers 500          ``fault api-500 on|off``
``api_slow``        every API answer is delayed                 ``fault api-slow 300ms|off``
``ready_degraded``  ``/api/v1/ready`` reports a dependency down ``fault ready-degraded
                                                                database|redis|both|off``
``version``         the API reports another release (or none:   ``fault version VALUE|none|off``
                    no endpoint, header or app_info)
``login_500``       ``POST /api/v1/auth/login`` answers 500    ``fault login-500 on|off``
``auth_me_open``    ``GET /api/v1/auth/me`` answers 200 without ``fault auth-me-open on|off``
                    a token (a deploy that lost its auth)
``hang``            a process is paused (SIGSTOP): it accepts   ``fault hang COMPONENT on|off``
                    connections and never answers
``stop``/``start``  a component is stopped / started again      ``stop|start COMPONENT...``
``clear``           every switch above off, hung ones resumed   ``fault clear``
==================  ==========================================  =================================

The API reads its switches from files in ``<root>/faults/`` on every request, so they act at
once and survive an API restart. A stopped component stays stopped until ``start`` or ``up``:
a ``pytest --env sandbox`` run never restarts it (it reports it instead).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from lms_opscheck.sandbox import stack
from lms_opscheck.sandbox.processes import is_paused, pause, resume
from lms_opscheck.sandbox.state import COMPONENTS, load_state, locked

#: Files the reference API (api.py) reads in the faults folder.
API_500_FILE = "health_500"
API_SLOW_FILE = "slow_ms"
READY_DEGRADED_FILE = "ready_degraded"
READY_DEPENDENCIES = ("database", "redis")
VERSION_FILE = "version"  # accounts.VERSION_FILE
LOGIN_500_FILE = "login_500"
AUTH_ME_OPEN_FILE = "auth_me_open"


@dataclass(frozen=True)
class Fault:
    """An active fault, worded as the CLI command that switches it on."""

    switch: str  # api-500, api-slow, ready-degraded, hang, stop
    value: str  # on, 300ms, redis, worker...

    def __str__(self) -> str:
        return f"{self.switch} {self.value}"


def api_500(root: Path, on: bool = True) -> None:
    """``GET /api/v1/health`` answers 500 ``{"status": "error"}`` while on."""
    _set_file(root, API_500_FILE, "1" if on else None)


def api_slow(root: Path, delay: timedelta | None) -> None:
    """Every API answer waits ``delay`` first (``None`` or zero: off)."""
    ms = round(delay.total_seconds() * 1000) if delay else 0
    if ms < 0:
        raise ValueError("api-slow needs a positive delay")
    _set_file(root, API_SLOW_FILE, str(ms) if ms else None)


def ready_degraded(root: Path, dependencies: Iterable[str] | None) -> None:
    """``/api/v1/ready`` answers 503 with the named dependencies ``down`` (``None``: off)."""
    names = sorted(set(dependencies or ()))
    unknown = sorted(set(names) - set(READY_DEPENDENCIES))
    if unknown:
        raise ValueError(
            f"unknown dependency {', '.join(unknown)}; known: {', '.join(READY_DEPENDENCIES)}"
        )
    _set_file(root, READY_DEGRADED_FILE, " ".join(names) if names else None)


def version(root: Path, value: str | None) -> None:
    """The API reports ``value`` as its release (``none``: no version at all; None: off)."""
    if value is not None and (not value.strip() or len(value) > 64 or value != value.strip()):
        raise ValueError("a version is 1-64 characters without surrounding spaces")
    _set_file(root, VERSION_FILE, value)


def login_500(root: Path, on: bool = True) -> None:
    """``POST /api/v1/auth/login`` answers 500 while on."""
    _set_file(root, LOGIN_500_FILE, "1" if on else None)


def auth_me_open(root: Path, on: bool = True) -> None:
    """``GET /api/v1/auth/me`` answers 200 without a token while on."""
    _set_file(root, AUTH_ME_OPEN_FILE, "1" if on else None)


def stop(root: Path, *components: str) -> list[str]:
    """Stop components (a dependency down); they stay stopped until ``start`` or ``up``."""
    return stack.stop(root, components)


def start(root: Path, *components: str) -> list[str]:
    return stack.start(root, components)


def hang(root: Path, *components: str) -> list[str]:
    """Pause components: their ports accept connections that are never answered."""
    return _signal(root, components, paused=True)


def unhang(root: Path, *components: str) -> list[str]:
    return _signal(root, components, paused=False)


def active(root: Path) -> list[Fault]:
    """Every fault in force: API switches, then hung and stopped components."""
    found: list[Fault] = []
    if _read(root, API_500_FILE) is not None:
        found.append(Fault("api-500", "on"))
    slow = _read(root, API_SLOW_FILE)
    if slow is not None:
        found.append(Fault("api-slow", f"{slow.strip()}ms"))
    degraded = _read(root, READY_DEGRADED_FILE)
    if degraded is not None and degraded.split():
        found.append(Fault("ready-degraded", ",".join(degraded.split())))
    forced_version = _read(root, VERSION_FILE)
    if forced_version is not None:
        found.append(Fault("version", forced_version.strip()))
    for switch, name in (("login-500", LOGIN_500_FILE), ("auth-me-open", AUTH_ME_OPEN_FILE)):
        if _read(root, name) is not None:
            found.append(Fault(switch, "on"))
    state = load_state(root)
    if state is not None and state.pg_port:
        status = state.status()
        found += [Fault("hang", name) for name in COMPONENTS if status[name] == "hung"]
        if any(value != "stopped" for value in status.values()):  # "down" is not a fault
            found += [Fault("stop", name) for name in COMPONENTS if status[name] == "stopped"]
    return found


def clear(root: Path) -> list[Fault]:
    """Switch every API fault off and resume hung components; return what was cleared.

    Stopped components are not started: ``start`` or ``up`` does that.
    """
    cleared = [fault for fault in active(root) if fault.switch != "stop"]
    for name in (
        API_500_FILE,
        API_SLOW_FILE,
        READY_DEGRADED_FILE,
        VERSION_FILE,
        LOGIN_500_FILE,
        AUTH_ME_OPEN_FILE,
    ):
        _set_file(root, name, None)
    unhang(root, *COMPONENTS)
    return cleared


def _signal(root: Path, components: Iterable[str], *, paused: bool) -> list[str]:
    names = set(components)
    unknown = sorted(names - set(COMPONENTS))
    if unknown:
        raise ValueError(f"unknown component {', '.join(unknown)}; known: {', '.join(COMPONENTS)}")
    with locked(root):
        state = load_state(root)
        if state is None or not state.pg_port:
            raise ValueError(f"no sandbox in {root}: start it with lms-opscheck-sandbox up")
        health = state.health()
        changed: list[str] = []
        for name in COMPONENTS:
            pid = state.pid_of(name)
            if name in names and health[name] and is_paused(pid) != paused:
                (pause if paused else resume)(pid)
                changed.append(name)
        return changed


def _set_file(root: Path, name: str, content: str | None) -> None:
    if load_state(root) is None:
        raise ValueError(f"no sandbox in {root}: start it with lms-opscheck-sandbox up")
    folder = root / "faults"
    folder.mkdir(exist_ok=True)
    path = folder / name
    if content is None:
        path.unlink(missing_ok=True)
        return
    # The API reads these files on every request: replace them whole, never half-written.
    partial = folder / f".{name}.{os.getpid()}"
    partial.write_text(content)
    partial.replace(path)


def _read(root: Path, name: str) -> str | None:
    try:
        return (root / "faults" / name).read_text()
    except OSError:
        return None
