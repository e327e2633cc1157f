"""PostgreSQL measurements over a read-only, time-bounded session."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Rejected, Unreachable

APPLICATION_NAME = "lms-opscheck"


@dataclass(frozen=True)
class DatabasePing:
    target: str
    server_version: str
    round_trip: timedelta
    read_only: bool

    def __str__(self) -> str:
        return f"{self.target} answered SELECT 1 in {format_duration(self.round_trip)}"


def connect(
    target: PostgresTarget,
    timeouts: Timeouts,
    *,
    read_only: bool = True,
    dbname: str | None = None,
) -> psycopg.Connection[tuple[object, ...]]:
    """A session bounded by the environment's timeouts; read-only unless a guarded writer asks."""
    # libpq's connect_timeout is whole seconds and treats 1 as 2; round up, never to zero.
    connect_seconds = max(2, int(timeouts.connect.total_seconds() + 0.999))
    statement_ms = int(timeouts.request.total_seconds() * 1000)
    options = f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    password = target.password.get_secret_value() if target.password else None
    try:
        return psycopg.connect(
            host=target.host,
            port=target.port,
            dbname=dbname or target.dbname,
            user=target.user,
            password=password,
            sslmode=target.sslmode,
            connect_timeout=connect_seconds,
            application_name=APPLICATION_NAME,
            options=options,
            autocommit=True,
        )
    except psycopg.OperationalError as exc:
        raise _classify(target, exc) from None


def ping_database(target: PostgresTarget, timeouts: Timeouts) -> DatabasePing:
    started = time.perf_counter()
    with connect(target, timeouts) as conn:
        try:
            row = conn.execute("SELECT 1, current_setting('transaction_read_only')").fetchone()
        except psycopg.errors.QueryCanceled:
            raise NoAnswer(target.label, "SELECT 1 exceeded the statement timeout") from None
        except psycopg.Error as exc:
            raise MeasurementError(target.label, f"SELECT 1 failed: {_first_line(exc)}") from None
        round_trip = timedelta(seconds=time.perf_counter() - started)
        version = conn.info.parameter_status("server_version") or "unknown"
    if row is None or row[0] != 1:
        raise MeasurementError(target.label, f"SELECT 1 returned {row!r}")
    return DatabasePing(target.label, version, round_trip, read_only=row[1] == "on")


def _classify(target: PostgresTarget, exc: psycopg.OperationalError) -> MeasurementError:
    text = _cause(exc)
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return Rejected(target.label, f"credentials rejected ({text})")
    if "does not exist" in lowered and ("database" in lowered or "role" in lowered):
        return Rejected(target.label, text)
    if "timeout expired" in lowered or "timed out" in lowered:
        return NoAnswer(target.label, f"no answer within the connect timeout ({text})")
    return Unreachable(target.label, text)


def _cause(exc: BaseException) -> str:
    """libpq's cause, then its hint: ``Connection refused (Is the server running ...?)``.

    libpq writes ``connection failed: connection to server at "h", port p failed: CAUSE``
    and then a hint line; the cause is the part that tells on-call what happened.
    """
    lines = [" ".join(line.split()) for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    cause = lines[0].rsplit(" failed: ", 1)[-1]
    hints = [line for line in lines[1:] if not line.startswith("connection to server")]
    return f"{cause} ({' '.join(hints)})" if hints else cause


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
