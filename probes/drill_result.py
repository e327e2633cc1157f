"""The active drill's request and result: what to restore where, and what the drill saw."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes import archive
from lms_opscheck.probes.drill_rows import Examination, RowRules
from lms_opscheck.probes.errors import MeasurementError
from lms_opscheck.probes.wallclock import zone


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
    rows: RowRules = field(default_factory=RowRules)
    allow_production_server: bool = False
    #: The environment says ``production: true``: an undeclared source is not assumed safe.
    production_environment: bool = False
    scratch: str | None = None
    #: Where the backup was found ("dir on host"), for the log.
    backup_location: str | None = None
    #: Zone pg_dump ran in (its archive header holds local time); zone of the log's file name.
    archive_timezone: str = "UTC"
    log_timezone: str = "UTC"


@dataclass(frozen=True)
class DrillResult:
    """What one drill did and saw; ``dropped`` proves the scratch database is gone again."""

    request: DrillRequest
    server: str
    scratch: str
    started_at: datetime
    ended_at: datetime
    size: int
    listing: archive.Listing | None
    restore_time: timedelta | None
    restore_error: str | None
    #: The drill could not restore or validate (unreadable file, tool or server problem).
    error: MeasurementError | None
    interrupted: str | None
    #: The restored copy, measured and judged; None when it could not be examined.
    examination: Examination | None
    dropped: bool
    log: Path
    log_error: str | None
    deferred_signals: int

    @property
    def backup(self) -> Path:
        return self.request.backup

    @property
    def duration(self) -> timedelta:
        return self.ended_at - self.started_at

    @property
    def restored(self) -> bool:
        """pg_restore succeeded and the copy could be examined."""
        return self.restore_error is None and self.error is None and self.interrupted is None

    def __str__(self) -> str:
        return f"restore drill of {self.backup.name} into {self.scratch} on {self.server}"


def drill_log_name(started: datetime, timezone: str) -> str:
    """``restore_drill_<local time>.log``: named like the LMS script names its logs."""
    return f"restore_drill_{started.astimezone(zone(timezone)):%Y%m%d_%H%M%S}.log"
