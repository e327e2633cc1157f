"""PowerShell transcripts shaped like the LMS's restore_drill.ps1 writes them (lms-target.md).

Test data only: the suite itself never writes this format (its drill writes its own log).
"""

from __future__ import annotations

from datetime import datetime, timedelta

RULE = "*" * 22
SUCCESS_LINE = "==> Restore drill completed successfully"


def transcript(
    started: datetime,
    *,
    ended: datetime | None = None,
    error: str | None = None,
    table_count: int | None = 19,
    backup: str | None = None,
    machine: str = "LMS-HOST",
) -> str:
    """A transcript whose times are ``started``'s wall clock (the host's local time).

    ``started`` may be naive (already local) or aware (its own wall clock is written, as
    Get-Date on that host would). ``ended`` None: the transcript stops before its footer.
    """
    local = started.replace(tzinfo=None)
    offset = started.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    hours, rest = divmod(abs(int(offset.total_seconds())) // 60, 60)
    iso = f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond:06d}0{sign}{hours:02d}:{rest:02d}"
    stamp = f"{local:%Y%m%d_%H%M%S}"
    dump = backup or f"C:\\lms\\backups\\db\\lms_{stamp}.dump"
    lines = [
        RULE,
        "Windows PowerShell transcript start",
        f"Start time: {local:%Y%m%d%H%M%S}",
        f"Username: {machine}\\ops",
        f"RunAs User: {machine}\\ops",
        f"Machine: {machine} (Microsoft Windows NT 10.0.20348.0)",
        "Host Application: powershell.exe -File scripts\\restore_drill.ps1",
        "Process ID: 4242",
        RULE,
        f"==> Restore drill started at {iso}",
        "Compose file: C:\\lms\\docker-compose.prod.yml",
        f"Drill DB: lms_restore_drill_{stamp}",
        "==> Creating fresh backup",
        f"[backup_db] Writing backup to {dump}",
        f"[backup_db] Backup completed: {dump}",
        f"Backup file: {dump}",
        "==> Creating drill database",
        "==> Copying backup into db container",
        "==> Restoring backup into drill database",
        "==> Running restore validation checks",
    ]
    if error is None:
        lines += [f"Restore validation passed. Table count: {table_count}", SUCCESS_LINE]
        lines.append(f"Log file: C:\\lms\\backups\\drill_logs\\restore_drill_{stamp}.log")
    else:
        lines += [
            f'PS>TerminatingError(): "{error}"',
            error,
            "At C:\\lms\\scripts\\restore_drill.ps1:88 char:5",
        ]
    if ended is not None:
        end = ended.replace(tzinfo=None)
        lines += [RULE, "Windows PowerShell transcript end", f"End time: {end:%Y%m%d%H%M%S}", RULE]
    return "\n".join(lines) + "\n"


def windows(text: str) -> bytes:
    """The transcript as Windows PowerShell 5 writes it: UTF-16 LE with a BOM, CRLF."""
    return b"\xff\xfe" + text.replace("\n", "\r\n").encode("utf-16-le")
