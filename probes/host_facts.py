"""What a host shows: its processes, listening TCP ports, mounts and uploads folder, read in ONE
bounded shell invocation (one ssh handshake per host per run, whatever the number of checks).

Every reading is a plain Linux tool run through ``probes.hosts.Shell``: ``ps -ww -eo pid=,args=``
(procps), ``/proc/net/tcp`` and ``/proc/net/tcp6`` (the kernel's own table, the one ``ss -ltn``
prints; no iproute2 needed), ``df -P -B1`` and ``stat -c`` (coreutils). Each reading carries its
own exit status, so a missing mount point fails that mount only; a host that cannot be reached
at all fails every reading with the one connection error (one timeout for the host, not one per
check).
"""

from __future__ import annotations

import os
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from lms_opscheck.probes.disk import DiskUsage, parse_df
from lms_opscheck.probes.errors import MeasurementError, Unreadable
from lms_opscheck.probes.hosts import Completed, Shell

#: TCP state LISTEN in /proc/net/tcp (include/net/tcp_states.h).
_LISTEN = "0A"


@dataclass(frozen=True)
class Process:
    pid: int
    args: str

    def runs(self, name: str) -> bool:
        """A word of the command line whose last path part is ``name``."""
        return any(os.path.basename(word) == name for word in self.args.split())


@dataclass(frozen=True)
class Reading:
    """One step of the batch: its shell text, and what it printed with its exit status."""

    command: str
    done: Completed | None = None


@dataclass
class Batch:
    """Named shell steps run together; ``run`` fills in each step's output and exit status."""

    steps: dict[str, Reading] = field(default_factory=dict)

    def add(self, key: str, argv: Sequence[str], raw: str | None = None) -> None:
        self.steps[key] = Reading(raw if raw is not None else shlex.join(argv))

    def run(self, shell: Shell, timeout: timedelta) -> dict[str, Completed]:
        """Run every step in one ``sh -c``; raises the host's MeasurementError if the shell
        itself could not run (ssh refused, timed out...)."""
        marker = f"@@opscheck-{os.urandom(6).hex()}"
        lines = [f"m={marker}"]
        for key, step in self.steps.items():
            lines.append(f"printf '%s begin {key}\\n' \"$m\"")
            # A subshell: a step that says ``exit`` ends itself, not the batch.
            lines.append(f"( {step.command}\n) 2>&1; r=$?")
            lines.append(f'printf \'\\n%s end {key} %s\\n\' "$m" "$r"')
        done = shell.run(["sh", "-c", "\n".join(lines)], timeout)
        return split_batch(done.stdout.decode(errors="replace"), marker, self.steps, shell.label)


def split_batch(
    text: str, marker: str, steps: Mapping[str, Reading], label: str
) -> dict[str, Completed]:
    pattern = re.compile(
        rf"^{re.escape(marker)} begin (?P<key>\S+)\n(?P<out>.*?)\n"
        rf"{re.escape(marker)} end (?P=key) (?P<rc>\d+)$",
        re.S | re.M,
    )
    found = {
        m["key"]: Completed(int(m["rc"]), m["out"].encode(), b"") for m in pattern.finditer(text)
    }
    missing = [key for key in steps if key not in found]
    if missing:
        raise Unreadable(label, f"the host's shell did not report {', '.join(missing)}")
    return found


def output_of(done: Completed) -> str:
    return done.stdout.decode(errors="replace")


def failure_text(done: Completed) -> str:
    text = " ".join(output_of(done).split())
    return text[:300] or f"exit status {done.rc}"


def parse_processes(text: str) -> tuple[Process, ...]:
    processes = []
    for line in text.splitlines():
        pid, _, args = line.strip().partition(" ")
        if pid.isdigit() and args.strip():
            processes.append(Process(int(pid), args.strip()))
    return tuple(processes)


def parse_listening(text: str) -> frozenset[int]:
    """Ports in state LISTEN in /proc/net/tcp(6) text (``sl local rem st ...``, hex port)."""
    ports = set()
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[0].endswith(":") and fields[3] == _LISTEN:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return frozenset(ports)


@dataclass(frozen=True)
class Measured:
    """What one host showed; a reading that could not be taken holds its error instead."""

    host: str
    label: str
    processes: tuple[Process, ...] | MeasurementError | None = None
    listening: frozenset[int] | MeasurementError | None = None
    mounts: Mapping[str, DiskUsage | MeasurementError] = field(default_factory=dict)
    elapsed: timedelta = timedelta(0)


def read_facts(
    shell: Shell,
    host: str,
    *,
    processes: bool,
    ports: bool,
    mounts: Sequence[str],
    extra: Mapping[str, str] | None = None,
    timeout: timedelta,
) -> tuple[Measured, dict[str, Completed]]:
    """Everything asked for, in one invocation; ``extra`` steps (shell text) come back raw."""
    started = time.monotonic()
    batch = Batch()
    if processes:
        batch.add("ps", ["ps", "-ww", "-eo", "pid=,args="])
    if ports:
        batch.add("tcp", [], raw="cat /proc/net/tcp; cat /proc/net/tcp6 2>/dev/null; true")
    for index, path in enumerate(mounts):
        batch.add(f"df{index}", ["df", "-P", "-B1", "--", path])
    for key, command in (extra or {}).items():
        batch.add(key, [], raw=command)
    done = batch.run(shell, timeout) if batch.steps else {}
    where = shell.label
    found_processes: tuple[Process, ...] | MeasurementError | None = None
    if processes:
        ps = done["ps"]
        found_processes = (
            parse_processes(output_of(ps))
            if ps.rc == 0
            else Unreadable(where, f"ps failed: {failure_text(ps)}")
        )
    found_ports: frozenset[int] | MeasurementError | None = None
    if ports:
        tcp = done["tcp"]
        found_ports = parse_listening(output_of(tcp))
        if not output_of(tcp).strip():
            found_ports = Unreadable(where, "/proc/net/tcp could not be read")
    usage: dict[str, DiskUsage | MeasurementError] = {}
    for index, path in enumerate(mounts):
        df = done[f"df{index}"]
        label = f"{path} on {where}"
        try:
            if df.rc != 0:
                raise Unreadable(label, f"df failed: {failure_text(df)}")
            usage[path] = parse_df(output_of(df), path, label)
        except MeasurementError as exc:
            usage[path] = exc
    measured = Measured(
        host,
        where,
        found_processes,
        found_ports,
        usage,
        elapsed=timedelta(seconds=time.monotonic() - started),
    )
    return measured, {key: value for key, value in done.items() if key in (extra or {})}
