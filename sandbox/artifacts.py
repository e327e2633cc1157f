"""The sandbox's "cron": daily pg_dump backups and weekly restore-drill logs, like production.

Every artifact states what happened: tonight's backup is named by the time pg_dump really ran
(in UTC, the sandbox's zone), the weekly drill is a real run of the suite's own drill, and the
older files that fill the retention windows say what they are (copies of a real dump; drill-log
placeholders that record no restore).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from lms_opscheck.config.model import LMS_KEY_TABLES, PostgresTarget, Timeouts
from lms_opscheck.probes.drill_record import DrillRecorder
from lms_opscheck.probes.restore_drill import DrillRequest, run_restore_drill
from lms_opscheck.sandbox.postgres import PostgresServer

BACKUP_DAYS = 31  # newest + 30 days: covers the 30-day retention, none past retention + grace
DRILL_WEEKS = 13  # weekly drill logs kept 90 days


def backup_name(moment: datetime) -> str:
    return f"lms_{moment:%Y%m%d_%H%M%S}.dump"


def drill_log_name(moment: datetime) -> str:
    return f"restore_drill_{moment:%Y%m%d_%H%M%S}.log"


def pg_dump(
    server: PostgresServer,
    dbname: str,
    target: Path,
    *options: str,
    timeout: float = 300,
    tz: str = "UTC",
) -> None:
    """A real ``pg_dump`` of the database: custom format (PGDMP) unless ``options`` differ.

    ``tz`` is the zone pg_dump runs in: its archive header records that zone's local time.
    """
    partial = target.with_suffix(".partial")
    subprocess.run(
        [
            *(server.tool("pg_dump"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres"),
            *("-d", dbname, *(options or ("-Fc",)), "-f", str(partial)),
        ],
        check=True,
        capture_output=True,
        timeout=timeout,
        env={
            **os.environ,
            "PGPASSWORD": server.superuser_password,
            "PGCONNECT_TIMEOUT": "5",
            "TZ": tz,
        },
    )
    partial.rename(target)


def refresh_backups(server: PostgresServer, dbname: str, directory: Path, now: datetime) -> Path:
    """Take a backup unless one was taken in the last 24 hours, backfill the retention window
    with copies of it (each with its day's mtime), prune the rest.

    Only the newest dump is taken now and named by when it ran; older days are copies of a real
    dump, so every file in the window is a restorable archive of this database (only the
    newest's archive header is read by the checks).
    """
    directory.mkdir(parents=True, exist_ok=True)
    newest = _newest_backup(directory, now)
    if newest is None:
        taken = datetime.now(UTC).replace(microsecond=0)
        newest = directory / backup_name(taken)
        pg_dump(server, dbname, newest)
    newest_at = _name_time(newest)
    wanted = {backup_name(newest_at - timedelta(days=d)) for d in range(BACKUP_DAYS)}
    for day in range(1, BACKUP_DAYS):
        moment = newest_at - timedelta(days=day)
        path = directory / backup_name(moment)
        if not path.exists():
            shutil.copyfile(newest, path)
            _set_mtime(path, moment + (_mtime(newest) - newest_at))
    for stale in directory.glob("lms_*.dump"):
        if stale.name not in wanted:
            stale.unlink()
    return newest


def _newest_backup(directory: Path, now: datetime) -> Path | None:
    """A backup taken in the last 24 hours and named by when it was taken, if there is one.

    Its inode change time is when pg_dump wrote it: a file whose name says otherwise (a sandbox
    made before backups were named by their real time) is not reused.
    """
    recent = [
        p
        for p in directory.glob("lms_*.dump")
        if now - timedelta(days=1) < _name_time(p) <= now
        and abs(datetime.fromtimestamp(p.stat().st_ctime, UTC) - _name_time(p)) < timedelta(hours=1)
    ]
    return max(recent, key=_name_time) if recent else None


def _name_time(path: Path) -> datetime:
    stamp = path.name.removeprefix("lms_").removesuffix(".dump")
    return datetime.strptime(stamp, "%Y%m%d_%H%M%S").replace(tzinfo=UTC)


def refresh_drill_logs(
    server: PostgresServer, backup: Path, directory: Path, now: datetime, min_tables: int = 8
) -> Path:
    """Run a real restore drill of ``backup`` unless one ran in the last week; keep 13 weeks."""
    directory.mkdir(parents=True, exist_ok=True)
    logs = sorted(directory.glob("restore_drill_*.log"))
    recent = [p for p in logs if _mtime(p) > now - timedelta(days=6)]
    newest = recent[-1] if recent else run_drill(server, backup, directory, min_tables)
    for week in range(1, DRILL_WEEKS + 1):
        moment = (_mtime(newest) - timedelta(weeks=week)).replace(microsecond=0)
        if not any(abs(_mtime(p) - moment) < timedelta(days=3) for p in logs):
            _write_history_log(directory, moment)
    for log in directory.glob("restore_drill_*.log"):
        if _mtime(log) < now - timedelta(weeks=DRILL_WEEKS, days=1):
            log.unlink()
    return newest


def run_drill(server: PostgresServer, backup: Path, directory: Path, min_tables: int) -> Path:
    """The suite's own active drill (probes.restore_drill) as the sandbox's superuser."""
    superuser = PostgresTarget(
        host="127.0.0.1",
        port=server.port,
        dbname="postgres",
        user="postgres",
        password=SecretStr(server.superuser_password),
        sslmode="disable",
    )
    request = DrillRequest(
        server=superuser,
        backup=backup,
        log_dir=directory,
        min_tables=min_tables,
        rto=timedelta(minutes=60),
        timeouts=Timeouts(),
        pg_restore=server.tool("pg_restore"),
        key_tables=LMS_KEY_TABLES,
        # One server holds both the `lms` database and the scratch copy in the sandbox.
        allow_production_server=True,
        backup_location=f"{backup.parent} on local://",
    )
    return run_restore_drill(request).log


def _write_history_log(directory: Path, moment: datetime) -> None:
    """A placeholder that fills the retention window: it records no restore, and says so."""
    log = directory / drill_log_name(moment)
    recorder = DrillRecorder(log)
    recorder.field("started_at", moment)
    recorder.field(
        "note",
        "sandbox history placeholder: no drill ran; kept so that the folder "
        "spans the drill-log retention period like a production folder does",
    )
    recorder.field("restore", "not run")
    recorder.close()
    _set_mtime(log, moment)


def _set_mtime(path: Path, moment: datetime) -> None:
    stamp = moment.timestamp()
    os.utime(path, (stamp, stamp))


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)
