"""Filesystem usage of a path on a host: ``df -P -B1`` (POSIX format, bytes), local or remote."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from lms_opscheck.config.capacity import Volume
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.hosts import Shell

DF_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class DiskUsage:
    volume: str  # the configured name
    where: str  # "<path> on <host>"
    filesystem: str
    mount: str
    size: int
    used: int
    available: int

    @property
    def ratio(self) -> float:
        """Used share of what non-root users can use: df's own "Capacity" (reserved blocks out)."""
        usable = self.used + self.available
        return self.used / usable if usable else 1.0


def disk_usage(shell: Shell, volume: Volume, timeout: timedelta = DF_TIMEOUT) -> DiskUsage:
    where = f"{volume.path} on {shell.label}"
    done = shell.run(["df", "-P", "-B1", "--", volume.path], timeout)
    if done.rc != 0:
        raise Unreadable(where, f"df failed: {done.error_text}")
    return parse_df(done.stdout.decode(errors="replace"), volume.name, where)


def parse_df(text: str, name: str, where: str) -> DiskUsage:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or not lines[0].startswith("Filesystem"):
        raise Unreadable(where, f"unexpected df output: {text[:120]!r}")
    # -P keeps one line per filesystem; a mount point may contain spaces, so split from the left.
    fields = lines[1].split(None, 5)
    try:
        size, used, available = int(fields[1]), int(fields[2]), int(fields[3])
    except (IndexError, ValueError):
        raise Unreadable(where, f"unexpected df line: {lines[1][:120]!r}") from None
    mount = fields[5] if len(fields) > 5 else ""
    return DiskUsage(name, where, fields[0], mount, size, used, available)
