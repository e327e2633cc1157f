"""Guards of the active restore drill: never the production database, always drop the scratch."""

from __future__ import annotations

import signal
import socket
import threading
from types import FrameType
from typing import Any

import psycopg
from psycopg import sql

from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes.errors import MeasurementError
from lms_opscheck.probes.postgres import connect

SCRATCH_PREFIX = "lms_restore_drill_"


class DrillRefused(Exception):
    """The drill would touch something it must not; nothing was created."""


def same_server(a: PostgresTarget, b: PostgresTarget) -> bool:
    """Whether two targets are one PostgreSQL server (host names resolved, then port)."""
    return a.port == b.port and bool(_addresses(a.host) & _addresses(b.host))


def _addresses(host: str) -> set[str]:
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)} | {host.lower()}
    except OSError:
        return {host.lower()}


def refuse_unsafe(
    server: PostgresTarget,
    scratch: str,
    production: PostgresTarget | None,
    allow_production_server: bool,
    production_environment: bool = False,
) -> None:
    """Raise DrillRefused unless ``scratch`` on ``server`` is a throw-away database."""
    where = f"{server.host}:{server.port}"
    if not scratch.startswith(SCRATCH_PREFIX):
        raise DrillRefused(f"refusing scratch database {scratch!r}: not a {SCRATCH_PREFIX}* name")
    if production is None and production_environment and not allow_production_server:
        # Without targets.postgres nothing tells the drill server from the production one.
        raise DrillRefused(
            f"refusing to drill on {where}: this is a production environment that declares no "
            "targets.postgres, so the drill server cannot be told apart from production; "
            "declare it, or set restore_drill.allow_production_server: true"
        )
    if production is None or not same_server(server, production):
        return
    if scratch == production.dbname:
        raise DrillRefused(f"refusing to restore into {scratch}: it is the production database")
    if not allow_production_server:
        raise DrillRefused(
            f"refusing to drill on {where}: it is the production server of {production.label}; "
            "point restore_drill.server at a drill server, or set "
            "restore_drill.allow_production_server: true to accept the load"
        )


def scratch_exists(server: PostgresTarget, timeouts: Timeouts, scratch: str) -> bool:
    with connect(server, timeouts) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (scratch,)).fetchone()
    return row is not None


def create_scratch(server: PostgresTarget, timeouts: Timeouts, scratch: str) -> None:
    """CREATE DATABASE, refusing (never reusing, never dropping) a name that already exists."""
    refusal = DrillRefused(
        f"refusing scratch database {scratch} on {server.host}:{server.port}: it already exists "
        "(another drill running, or one left behind: inspect it, then drop it by hand)"
    )
    with connect(server, timeouts, read_only=False) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (scratch,)).fetchone()
        if row is not None:
            raise refusal
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        except psycopg.errors.DuplicateDatabase:
            raise refusal from None
        except psycopg.Error as exc:
            raise MeasurementError(
                server.label, f"CREATE DATABASE {scratch} failed: {exc}"
            ) from None


def drop_scratch(server: PostgresTarget, timeouts: Timeouts, scratch: str) -> bool:
    """Drop the scratch database on a fresh connection; True once pg_database no longer lists it.

    Bounded by the connect and statement timeouts. Signals do not interrupt it while a
    SignalGuard is in its cleanup phase (the active drill's case).
    """
    if not scratch.startswith(SCRATCH_PREFIX):  # defence in depth: only ever drop our own
        return False
    try:
        with connect(server, timeouts, read_only=False) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
            )
        return not scratch_exists(server, timeouts, scratch)
    except (MeasurementError, psycopg.Error):
        return False


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalGuard:
    """SIGINT and SIGTERM during a drill: the first one stops the work, none stops the cleanup.

    While the work runs, the first signal raises KeyboardInterrupt (so ``finally`` blocks drop
    the scratch database). Every later signal, and any signal once ``cleaning()`` was called, is
    only counted: the drop and the log are never cut short by a second SIGTERM (what systemd or
    Kubernetes send when the first one did not end the process quickly). When the cleanup is
    over, a signal that was only counted is honoured: KeyboardInterrupt. Outside the main thread
    signals cannot be caught, and the guard does nothing.
    """

    def __init__(self) -> None:
        self.first: int | None = None  # the signal that stopped the work
        self.deferred = 0  # signals counted, not acted on, during the cleanup
        self._raised = False
        self._cleaning = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        if _in_main_thread():
            for signum in _SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._raised or self._cleaning:
            self.deferred += 1
            return
        self._raised = True
        self.first = signum
        raise KeyboardInterrupt(f"{signal.Signals(signum).name} during the restore drill")

    def cleaning(self) -> None:
        """From now on signals are counted only: the cleanup must finish."""
        self._cleaning = True

    @property
    def interruption(self) -> str | None:
        if self.first is None:
            return None
        return f"{signal.Signals(self.first).name} received"

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()
        if kind is None and self.deferred and not self._raised:
            raise KeyboardInterrupt("signal received during the restore drill's cleanup")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
