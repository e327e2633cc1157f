"""The active restore drill: restore a dump into a scratch database, validate it, always drop it."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes import drill_safety
from lms_opscheck.probes.drill_log import format_drill_log
from lms_opscheck.probes.drill_safety import SCRATCH_PREFIX, DrillRefused
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Rejected
from lms_opscheck.probes.postgres import connect
from lms_opscheck.probes.redaction import redact

__all__ = ["SCRATCH_PREFIX", "DrillRefused", "DrillRequest", "DrillResult", "run_restore_drill"]

_PUBLIC_TABLES = (
    "SELECT count(*) FROM information_schema.tables "
    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
)


@dataclass(frozen=True)
class DrillRequest:
    """What to restore, where, and against which thresholds."""

    server: PostgresTarget
    backup: Path
    log_dir: Path
    min_tables: int
    rto: timedelta
    timeouts: Timeouts
    pg_restore: str = "pg_restore"
    key_tables: tuple[str, ...] = ()
    expected_revision: str | None = None
    #: The production database, read only, to compare row counts with; None: not compared.
    source: PostgresTarget | None = None
    tolerance: float = 0.05
    allow_production_server: bool = False
    #: The environment says ``production: true``: an undeclared source is not assumed safe.
    production_environment: bool = False
    scratch: str | None = None


@dataclass(frozen=True)
class RowCount:
    table: str
    restored: int | None  # None: the table is missing from the restore
    source: int | None  # None: not compared

    def within(self, tolerance: float) -> bool:
        if self.restored is None or self.source is None:
            return self.source is None
        return abs(self.restored - self.source) <= tolerance * self.source


@dataclass(frozen=True)
class DrillResult:
    """What one drill did and saw; ``dropped`` proves the scratch database is gone again."""

    server: str
    scratch: str
    backup: Path
    started_at: datetime
    ended_at: datetime
    restore_time: timedelta | None
    restore_error: str | None
    table_count: int | None
    revision: str | None
    has_alembic: bool
    row_counts: tuple[RowCount, ...]
    source_note: str | None  # why row counts were not compared: no source is configured
    #: The configured source could not be measured (unreachable, credentials rejected).
    source_error: MeasurementError | None
    validation_failures: tuple[str, ...]
    dropped: bool
    log: Path

    @property
    def duration(self) -> timedelta:
        return self.ended_at - self.started_at

    @property
    def error(self) -> str | None:
        """The line the drill log quotes: the restore's failure, else the validation's."""
        if self.restore_error:
            return self.restore_error
        if self.validation_failures:
            return "Restore validation failed: " + "; ".join(self.validation_failures)
        return None

    def __str__(self) -> str:
        return f"restore drill of {self.backup.name} into {self.scratch} on {self.server}"


@dataclass
class _Seen:
    restore_time: timedelta | None = None
    restore_error: str | None = None
    table_count: int | None = None
    revision: str | None = None
    has_alembic: bool = False
    row_counts: tuple[RowCount, ...] = ()
    source_note: str | None = None
    source_error: MeasurementError | None = None


def run_restore_drill(request: DrillRequest) -> DrillResult:
    """Run the drill; DrillRefused before anything is created when the target is unsafe."""
    started = datetime.now(UTC)
    scratch = request.scratch or f"{SCRATCH_PREFIX}{started:%Y%m%d_%H%M%S}"
    drill_safety.refuse_unsafe(
        request.server,
        scratch,
        request.source,
        request.allow_production_server,
        request.production_environment,
    )
    admin = _admin_timeouts(request.timeouts)
    seen = _Seen()
    dropped = False
    interrupted: str | None = None
    with drill_safety.terminate_as_interrupt():
        # Refusals and an unreachable server propagate from here: nothing exists to clean up.
        drill_safety.create_scratch(request.server, admin, scratch)
        try:
            _restore(request, scratch, seen)
            if seen.restore_error is None:
                _validate(request, scratch, admin, seen)
        except (MeasurementError, psycopg.Error) as exc:
            seen.restore_error = redact(f"Restore drill failed: {exc}")
        except KeyboardInterrupt:
            interrupted = "Restore drill failed: interrupted (Ctrl-C or SIGTERM)"
            raise
        finally:
            dropped = drill_safety.drop_scratch(request.server, admin, scratch)
            result = _result(request, scratch, started, seen, dropped, interrupted)
            _write_log(request, result)
    return result


def _admin_timeouts(timeouts: Timeouts) -> Timeouts:
    # CREATE/DROP DATABASE and count(*) on a restored copy may outlast an API-sized timeout.
    longer = max(timeouts.request, timedelta(seconds=60))
    return Timeouts(connect=timeouts.connect, request=longer, deadline=longer)


def _restore(request: DrillRequest, scratch: str, seen: _Seen) -> None:
    server = request.server
    argv = [
        request.pg_restore,
        *("-h", server.host, "-p", str(server.port), "-U", server.user, "-d", scratch),
        *("--no-owner", "--no-privileges", "--exit-on-error", str(request.backup)),
    ]
    env = {
        **os.environ,
        "PGPASSWORD": server.password.get_secret_value() if server.password else "",
        "PGSSLMODE": server.sslmode,
        "PGCONNECT_TIMEOUT": str(max(2, int(request.timeouts.connect.total_seconds() + 0.999))),
    }
    began = time.perf_counter()
    try:
        subprocess.run(
            argv, check=True, capture_output=True, timeout=request.rto.total_seconds(), env=env
        )
    except FileNotFoundError:
        seen.restore_error = f"pg_restore failed: {request.pg_restore} not found"
    except subprocess.TimeoutExpired:
        rto = format_duration(request.rto)
        seen.restore_error = f"pg_restore failed: not finished within the RTO ({rto}); stopped"
    except subprocess.CalledProcessError as exc:
        seen.restore_error = f"pg_restore failed: {_stderr_line(exc.stderr)}"
    seen.restore_time = timedelta(seconds=time.perf_counter() - began)


def _stderr_line(stderr: bytes | None) -> str:
    lines = [ln.strip() for ln in (stderr or b"").decode(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    chosen = next((ln for ln in lines if "error:" in ln), lines[0] if lines else "no message")
    return redact(chosen)[:300]


def _validate(request: DrillRequest, scratch: str, admin: Timeouts, seen: _Seen) -> None:
    with connect(request.server, admin, dbname=scratch) as conn:
        seen.table_count = _scalar(conn, _PUBLIC_TABLES)
        seen.has_alembic = _exists(conn, "alembic_version")
        if seen.has_alembic:
            seen.revision = _revision(conn)
        restored = {
            table: _scalar(conn, _count(table)) if _exists(conn, table) else None
            for table in request.key_tables
        }
    source = _source_counts(request, seen)
    seen.row_counts = tuple(RowCount(t, n, source.get(t)) for t, n in restored.items())


def _revision(conn: psycopg.Connection[tuple[object, ...]]) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version LIMIT 1").fetchone()
    except psycopg.Error:  # not Alembic's table shape: no revision to report
        return None
    return str(row[0]) if row else None


def _scalar(conn: psycopg.Connection[tuple[object, ...]], query: sql.Composable | str) -> int:
    row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def _exists(conn: psycopg.Connection[tuple[object, ...]], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",)).fetchone()
    return bool(row and row[0])


def _count(table: str) -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(table))


def _source_counts(request: DrillRequest, seen: _Seen) -> dict[str, int]:
    if request.source is None:
        seen.source_note = "no source database configured"
        return {}
    counts: dict[str, int] = {}
    try:
        with connect(request.source, request.timeouts) as conn:
            for table in request.key_tables:
                if _exists(conn, table):
                    counts[table] = _scalar(conn, _count(table))
    except MeasurementError as exc:
        seen.source_error = exc
        return {}
    except psycopg.Error as exc:
        seen.source_error = _source_error(request.source, exc)
        return {}
    return counts


def _source_error(source: PostgresTarget, exc: psycopg.Error) -> MeasurementError:
    """A query on the source that failed after connecting: refused, timed out, or otherwise."""
    what = f"counting key-table rows failed ({type(exc).__name__})"
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return Rejected(source.label, what)
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return NoAnswer(source.label, what)
    return MeasurementError(source.label, what)


def _failures(request: DrillRequest, seen: _Seen) -> tuple[str, ...]:
    """Why the restored copy is not fit, worded like the LMS script's validation errors."""
    if seen.restore_error is not None or seen.table_count is None:
        return ()
    failures: list[str] = []
    if seen.table_count < request.min_tables:
        failures.append(f"expected at least {request.min_tables} tables, got {seen.table_count}")
    if not seen.has_alembic:
        failures.append("alembic_version is missing")
    elif seen.revision is None:
        failures.append("alembic_version holds no revision")
    elif request.expected_revision and seen.revision != request.expected_revision:
        failures.append(f"revision {seen.revision}, expected {request.expected_revision}")
    missing = [c.table for c in seen.row_counts if c.restored is None]
    empty = [c.table for c in seen.row_counts if c.restored == 0]
    if missing:
        failures.append(f"key tables missing: {', '.join(missing)}")
    if empty:
        failures.append(f"key tables empty: {', '.join(empty)}")
    off = [c for c in seen.row_counts if not c.within(request.tolerance)]
    if off:
        pairs = ", ".join(f"{c.table} {c.restored} vs {c.source}" for c in off)
        failures.append(
            f"row counts differ from the source by more than {request.tolerance:.0%}: {pairs}"
        )
    return tuple(failures)


def _result(
    request: DrillRequest,
    scratch: str,
    started: datetime,
    seen: _Seen,
    dropped: bool,
    interrupted: str | None,
) -> DrillResult:
    return DrillResult(
        server=f"{request.server.host}:{request.server.port}",
        scratch=scratch,
        backup=request.backup,
        started_at=started,
        ended_at=datetime.now(UTC),
        restore_time=seen.restore_time,
        restore_error=interrupted or seen.restore_error,
        table_count=seen.table_count,
        revision=seen.revision,
        has_alembic=seen.has_alembic,
        row_counts=seen.row_counts,
        source_note=seen.source_note,
        source_error=seen.source_error,
        validation_failures=_failures(request, seen),
        dropped=dropped,
        log=request.log_dir / f"restore_drill_{started:%Y%m%d_%H%M%S}.log",
    )


def _write_log(request: DrillRequest, result: DrillResult) -> None:
    request.log_dir.mkdir(parents=True, exist_ok=True)
    text = format_drill_log(
        started_at=result.started_at,
        # The transcript's stamps are whole seconds: never report a drill shorter than it was.
        ended_at=result.ended_at + timedelta(seconds=1),
        drill_database=result.scratch,
        source=request.source.label if request.source else result.server,
        backup_file=str(result.backup),
        table_count=result.table_count,
        error=result.error,
        log_file=str(result.log),
    )
    partial = result.log.with_suffix(".partial")
    partial.write_text(redact(text), encoding="utf-8")
    partial.replace(result.log)
