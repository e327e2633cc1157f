"""The uploads folder on a host: its type, owner, group and mode (``stat``), the free space of its
filesystem (``df``), and the opt-in write probe, which creates, reads back and removes one file.

The write probe writes exactly one file, ``<path>/.lms-opscheck-write-probe-<24 hex digits>``,
holding one line (``lms-opscheck write probe <UTC time> from <host>``, under 100 bytes), created
with the shell's noclobber (never over an existing file) and removed by a trap on every way out
of the shell (success, failure, SIGHUP/SIGINT/SIGTERM, the remote ``timeout``); the probe then
checks that it is gone and says so if it is not.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime

from lms_opscheck.config.hosts import UploadsExpectation
from lms_opscheck.probes.disk import DiskUsage, parse_df
from lms_opscheck.probes.errors import MeasurementError, Unreadable
from lms_opscheck.probes.host_facts import failure_text, output_of
from lms_opscheck.probes.hosts import Completed

PROBE_PREFIX = ".lms-opscheck-write-probe-"
_WRITE_SCRIPT = """\
f=$1; c=$2
trap 'rm -f -- "$f"' EXIT
trap 'exit 1' HUP INT TERM
set -C
printf '%s\\n' "$c" | cat > "$f" || exit 10
[ "$(cat -- "$f")" = "$c" ] || exit 11
rm -f -- "$f" || exit 12
[ ! -e "$f" ] || exit 13
"""
_WRITE_FAILURES = {
    10: "could not create",
    11: "read back something else than was written to",
    12: "could not remove",
    13: "could not remove",
}


@dataclass(frozen=True)
class UploadsDir:
    path: str
    where: str  # "<path> on <host>"
    exists: bool
    kind: str = ""  # stat's %F: "directory", "regular file", "symbolic link"...
    owner: str = ""
    group: str = ""
    uid: int = -1
    gid: int = -1
    mode: str = ""  # four octal digits, "0750"
    usage: DiskUsage | MeasurementError | None = None


def stat_steps(path: str) -> dict[str, str]:
    """The shell text of the readings ``uploads_dir`` parses (run in the host's batch)."""
    quoted = shlex.quote(path)
    return {
        "upstat": f"stat -L -c '%F|%U|%G|%u|%g|%a' -- {quoted}",
        "updf": f"df -P -B1 -- {quoted}",
    }


def uploads_dir(path: str, label: str, stat: Completed, df: Completed) -> UploadsDir:
    where = f"{path} on {label}"
    text = output_of(stat).strip()
    if stat.rc != 0:
        if "No such file or directory" in text:
            return UploadsDir(path, where, exists=False)
        raise Unreadable(where, f"stat failed: {failure_text(stat)}")
    fields = text.splitlines()[-1].split("|") if text else []
    if len(fields) != 6 or not fields[3].isdigit() or not fields[4].isdigit():
        raise Unreadable(where, f"unexpected stat output: {text[:120]!r}")
    kind, owner, group, uid, gid, mode = fields
    usage: DiskUsage | MeasurementError
    try:
        if df.rc != 0:
            raise Unreadable(where, f"df failed: {failure_text(df)}")
        usage = parse_df(output_of(df), "uploads", where)
    except MeasurementError as exc:
        usage = exc
    return UploadsDir(
        path, where, True, kind, owner, group, int(uid), int(gid), f"{int(mode, 8):04o}", usage
    )


@dataclass(frozen=True)
class WriteProbe:
    file: str
    where: str
    written: int  # bytes
    problem: str | None  # None: written, read back and removed

    @property
    def left_behind(self) -> bool:
        return self.problem is not None and self.problem.startswith("could not remove")


@dataclass(frozen=True)
class WriteStep:
    """The probe file's path, the bytes it will hold, and the shell text that writes, reads
    back and removes it (run in the host's batch)."""

    target: str
    size: int
    command: str


def write_step(path: str, host: str) -> WriteStep:
    target = f"{path.rstrip('/')}/{PROBE_PREFIX}{os.urandom(12).hex()}"
    line = f"lms-opscheck write probe {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} from {host}"[:99]
    command = shlex.join(["sh", "-c", _WRITE_SCRIPT, "sh", target, line])
    return WriteStep(target, len(line) + 1, command)


def write_result(path: str, label: str, step: WriteStep, done: Completed) -> WriteProbe:
    """What the write step's exit status and words (stdout and stderr together) mean."""
    where = f"{path} on {label}"
    if done.rc == 0:
        return WriteProbe(step.target, where, step.size, None)
    said = " ".join(output_of(done).split())[:300]
    what = _WRITE_FAILURES.get(done.rc)
    if what is None:
        raise Unreadable(where, f"the write probe's shell failed: {said or done.rc}")
    problem = f"{what} {step.target}" + (f": {said}" if said else "")
    if done.rc in (12, 13):
        problem += " (the file is left behind: remove it)"
    return WriteProbe(step.target, where, 0, problem)


def ownership_problems(found: UploadsDir, expected: UploadsExpectation) -> list[str]:
    """What differs from the configured kind, owner, group and mode (names or numeric ids)."""
    wrong = []
    if found.kind != "directory":
        wrong.append(f"it is a {found.kind}, expected a directory")
    for what, seen, number, want in (
        ("owner", found.owner, found.uid, expected.owner),
        ("group", found.group, found.gid, expected.group),
    ):
        if want is not None and want not in (seen, str(number)):
            wrong.append(f"{what} is {seen} ({number}), expected {want}")
    if expected.mode is not None and found.mode != expected.mode:
        wrong.append(f"mode is {found.mode}, expected {expected.mode}")
    return wrong
