"""Run-folder retention: a daily cron must not fill the disk (``--keep-days``)."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: Only folders the suite names itself are ever removed (out/<env>/20261128T020000.123Z).
RUN_FOLDER = re.compile(r"^\d{8}T\d{6}(?:\.\d{3})?Z$")
DEFAULT_KEEP_DAYS = 100  # the weekly report looks 9 weeks back; keep a margin beyond it


def prune(
    parent: Path, keep: timedelta, keep_always: Path, now: datetime | None = None
) -> list[Path]:
    """Remove run folders in ``parent`` older than ``keep`` (by their name's time, which the
    suite wrote); never ``keep_always`` nor what ``latest`` points at. Returns what was removed."""
    now = now or datetime.now(UTC)
    protected = {keep_always.resolve()}
    latest = parent / "latest"
    if latest.is_symlink():
        protected.add(latest.resolve())
    removed: list[Path] = []
    try:
        candidates = sorted(parent.iterdir())
    except OSError:
        return removed
    for folder in candidates:
        if not RUN_FOLDER.match(folder.name) or folder.is_symlink() or not folder.is_dir():
            continue
        if folder.resolve() in protected:
            continue
        stamp = datetime.strptime(folder.name[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        if now - stamp > keep:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed
