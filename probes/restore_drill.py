"""The active restore drill: restore a dump into a scratch database, validate it, always drop it.

Order of events, each one appended to the drill log (probes.drill_record) when it happened:
preflight (the backup is readable, not encrypted, and pg_restore lists it: nothing is created
otherwise), CREATE DATABASE, pg_restore, validation, DROP DATABASE, the restore's result. The
first SIGINT/SIGTERM stops the work; no later one stops the drop or the log (SignalGuard).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes import archive, drill_safety
from lms_opscheck.probes.drill_record import (
    ERROR,
    FAILED,
    INTERRUPTED,
    SUCCEEDED,
    DrillRecorder,
)
from lms_opscheck.probes.drill_result import DrillRequest, DrillResult, drill_log_name
from lms_opscheck.probes.drill_rows import Examination, RowRules
from lms_opscheck.probes.drill_safety import SCRATCH_PREFIX, DrillRefused, SignalGuard
from lms_opscheck.probes.drill_validation import Subject, examine
from lms_opscheck.probes.errors import MeasurementError, Unreadable
from lms_opscheck.probes.hosts import LocalShell, shorten
from lms_opscheck.probes.redaction import redact

__all__ = [
    "SCRATCH_PREFIX",
    "DrillRefused",
    "DrillRequest",
    "DrillResult",
    "RowRules",
    "run_restore_drill",
]

LIST_TIMEOUT = timedelta(seconds=60)


@dataclass
class _Seen:
    """What the drill saw so far; frozen into a DrillResult at the end."""

    size: int = 0
    listing: archive.Listing | None = None
    restore_time: timedelta | None = None
    restore_error: str | None = None
    error: MeasurementError | None = None  # could not restore or validate: not a verdict
    interrupted: str | None = None
    examination: Examination | None = None
    phase: str = "creating the scratch database"

    @property
    def outcome(self) -> str:
        """The ``restore:`` line of the drill log: the restore's own result."""
        if self.interrupted:
            return f"{INTERRUPTED}: {self.interrupted}"
        if self.restore_error:
            return f"{FAILED}: {self.restore_error}"
        if self.error:
            return f"{ERROR}: could not examine the restored copy: {self.error.problem}"
        return SUCCEEDED


def run_restore_drill(request: DrillRequest) -> DrillResult:
    """Run the drill; DrillRefused or a MeasurementError before anything is created when the
    target is unsafe or the backup cannot be restored at all (unreadable, encrypted, no tool)."""
    started = datetime.now(UTC)
    scratch = request.scratch or f"{SCRATCH_PREFIX}{started:%Y%m%d_%H%M%S}"
    drill_safety.refuse_unsafe(
        request.server,
        scratch,
        request.source,
        request.allow_production_server,
        request.production_environment,
    )
    seen = _preflight(request)
    admin = _admin_timeouts(request.timeouts)
    with SignalGuard() as guard:
        try:
            # Refusals and an unreachable server propagate from here: nothing exists yet.
            drill_safety.create_scratch(request.server, admin, scratch)
        except KeyboardInterrupt:
            # The server may have created it just before the signal: never leave it behind.
            guard.cleaning()
            drill_safety.drop_scratch(request.server, admin, scratch)
            raise
        recorder = DrillRecorder(request.log_dir / drill_log_name(started, request.log_timezone))
        try:
            try:
                _record_start(recorder, request, scratch, started, seen)
                _restore(request, scratch, seen, recorder)
                if seen.restore_error is None and seen.error is None:
                    _validate(request, scratch, admin, seen, recorder)
            except KeyboardInterrupt:
                seen.interrupted = f"{guard.interruption or 'interrupted'} while {seen.phase}"
                raise
            finally:
                guard.cleaning()
        finally:
            dropped = drill_safety.drop_scratch(request.server, admin, scratch)
            result = _finish(request, scratch, started, seen, dropped, recorder, guard)
    return result


def _admin_timeouts(timeouts: Timeouts) -> Timeouts:
    # CREATE/DROP DATABASE and count(*) on a restored copy may outlast an API-sized timeout.
    longer = max(timeouts.request, timedelta(seconds=60))
    return Timeouts(connect=timeouts.connect, request=longer, deadline=longer)


def _preflight(request: DrillRequest) -> _Seen:
    """Read the backup's header and table of contents; raise when no restore could succeed."""
    where = f"{request.backup} on local://"
    try:
        with request.backup.open("rb") as handle:
            header = handle.read(archive.HEADER_BYTES)
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise Unreadable(where, f"cannot read the backup: {exc.strerror or exc}") from None
    kind = archive.sniff(header)
    if kind in archive.ENCRYPTED:
        raise MeasurementError(
            where,
            f"the backup is {archive.describe(kind)}; the active drill cannot decrypt backups, "
            "so it cannot restore this one",
        )
    listing = archive.list_archive(
        LocalShell(),
        request.pg_restore,
        str(request.backup),
        LIST_TIMEOUT,
        request.archive_timezone,
    )
    return _Seen(size=size, listing=listing)


def _record_start(
    recorder: DrillRecorder, request: DrillRequest, scratch: str, started: datetime, seen: _Seen
) -> None:
    listing = seen.listing
    recorder.field("started_at", started)
    recorder.field("backup", request.backup.name)
    recorder.field("backup_path", request.backup)
    if request.backup_location:
        recorder.field("backup_location", request.backup_location)
    recorder.field("backup_size_bytes", seen.size)
    if listing is not None and listing.created_at is not None:
        recorder.field("backup_created_at", listing.created_at.earliest)
    if listing is not None and listing.dbname:
        recorder.field("backup_database", listing.dbname)
    if listing is not None and listing.ok:
        recorder.field("dump_tables", listing.public_tables())
    recorder.field("server", f"{request.server.host}:{request.server.port}")
    recorder.field("scratch_database", scratch)
    recorder.step(f"created database {scratch}")


def _restore(request: DrillRequest, scratch: str, seen: _Seen, recorder: DrillRecorder) -> None:
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
    where = f"{request.backup} on local://"
    seen.phase = "restoring with pg_restore"
    recorder.step(f"pg_restore started ({request.pg_restore})")
    began = time.perf_counter()
    try:
        subprocess.run(
            argv, check=True, capture_output=True, timeout=request.rto.total_seconds(), env=env
        )
    except subprocess.TimeoutExpired:
        rto = format_duration(request.rto)
        seen.restore_error = f"pg_restore failed: not finished within the RTO ({rto}); stopped"
    except subprocess.CalledProcessError as exc:
        line = _stderr_line(exc.stderr)
        if "could not open input file" in line:
            seen.error = Unreadable(where, line)
        else:
            seen.restore_error = f"pg_restore failed: {line}"
    except OSError as exc:  # the tool vanished since the preflight listing
        seen.error = MeasurementError(
            where, f"cannot run {shorten(request.pg_restore)}: {exc.strerror or exc}"
        )
    seen.restore_time = timedelta(seconds=time.perf_counter() - began)
    took = format_duration(seen.restore_time)
    if seen.restore_error or seen.error:
        why = seen.restore_error or (seen.error.problem if seen.error else "")
        recorder.step(f"pg_restore stopped after {took}: {why}")
    else:
        recorder.step(f"pg_restore finished in {took}")


def _stderr_line(stderr: bytes | None) -> str:
    lines = [ln.strip() for ln in (stderr or b"").decode(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    chosen = next((ln for ln in lines if "error:" in ln), lines[0] if lines else "no message")
    return redact(chosen)[:300]


def _validate(
    request: DrillRequest, scratch: str, admin: Timeouts, seen: _Seen, recorder: DrillRecorder
) -> None:
    listing = seen.listing
    subject = Subject(
        server=request.server,
        scratch=scratch,
        timeouts=admin,
        key_tables=request.key_tables,
        rules=request.rows,
        min_tables=request.min_tables,
        expected_revision=request.expected_revision,
        source=request.source,
        dumped_at=listing.created_at.earliest if listing and listing.created_at else None,
        dump_tables=listing.public_tables() if listing and listing.ok else None,
    )
    seen.phase = "examining the restored copy"
    try:
        exam = examine(subject)
    except MeasurementError as exc:
        seen.error = exc
        recorder.step(f"could not examine the restored copy: {exc.problem}")
        return
    seen.examination = exam
    recorder.field("tables", exam.table_count)
    for name, passed, figures in exam.validations():
        recorder.validation(name, passed, figures)
    if not exam.compared:
        why = exam.source_note or (exam.source_error.problem if exam.source_error else "")
        recorder.step(f"row counts not compared with the source: {why}")


def _finish(
    request: DrillRequest,
    scratch: str,
    started: datetime,
    seen: _Seen,
    dropped: bool,
    recorder: DrillRecorder,
    guard: SignalGuard,
) -> DrillResult:
    server = f"{request.server.host}:{request.server.port}"
    if dropped:
        recorder.step(f"dropped database {scratch} (pg_database no longer lists it)")
    else:
        recorder.step(f"could not drop database {scratch} on {server}: drop it by hand")
    if guard.deferred:
        recorder.step(
            f"{guard.deferred} further signal(s) arrived during the cleanup; they were held "
            "until the drop and this log were complete"
        )
    ended = datetime.now(UTC)
    recorder.field("restore", seen.outcome)
    recorder.field("dropped", "yes" if dropped else "no")
    recorder.field("ended_at", ended)
    recorder.close()
    return DrillResult(
        request=request,
        server=server,
        scratch=scratch,
        started_at=started,
        ended_at=ended,
        size=seen.size,
        listing=seen.listing,
        restore_time=seen.restore_time,
        restore_error=seen.restore_error,
        error=seen.error,
        interrupted=seen.interrupted,
        examination=seen.examination,
        dropped=dropped,
        log=recorder.path,
        log_error=recorder.error,
        deferred_signals=guard.deferred,
    )
