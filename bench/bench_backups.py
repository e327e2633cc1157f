"""Bench the backup checks: catalogue of 10,000 backups (local, ssh), pg_restore --list of ~1 GB.

Run: python bench/bench_backups.py [--gib 1.0] [--repeat 5]. Prints medians. Needs the sandbox
extra (a private PostgreSQL is started in a temp dir, and deleted with the scratch data) and
/usr/sbin/sshd for the ssh figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lms_opscheck.config.model import BackupLocation, Host
from lms_opscheck.probes import archive
from lms_opscheck.probes.backups import catalogue
from lms_opscheck.probes.hosts import LocalShell, shell_for

PEAK = (
    "import resource,sys;from datetime import timedelta;from probes import archive;"
    "from probes.hosts import LocalShell;"
    "l=archive.list_archive(LocalShell(),sys.argv[1],sys.argv[2],timedelta(seconds=600));"
    "print(l.entries, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,"
    " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def make_backups(directory: Path, count: int) -> None:
    newest = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for i in range(count):
        moment = newest - timedelta(hours=i)
        path = directory / f"lms_{moment:%Y%m%d_%H%M%S}.dump"
        path.write_bytes(b"PGDMP")
        os.utime(path, (moment.timestamp(), moment.timestamp()))


def bench_catalogue(root: Path, repeat: int) -> None:
    directory = root / "many"
    directory.mkdir()
    make_backups(directory, 10_000)
    location = BackupLocation(dir=str(directory))
    found = len(catalogue(LocalShell(), location))
    local = median(lambda: catalogue(LocalShell(), location), repeat)
    print(f"catalogue, 10,000 backups, local: median {local * 1000:.1f} ms ({found} listed)")
    from tests.support.sshd import SSHD, running_sshd

    if not SSHD.exists():
        print("catalogue over ssh: skipped (no /usr/sbin/sshd)")
        return
    with running_sshd(root / "sshd") as server:
        host = Host(
            uri=server.uri, identity_file=server.identity_file, ssh_config=server.ssh_config
        )
        shell = shell_for("bench", host, timedelta(seconds=5))
        remote = median(lambda: catalogue(shell, location), repeat)
        print(f"catalogue, 10,000 backups, ssh (one find, new connection): median {remote:.3f} s")


def bench_archive(root: Path, gib: float, repeat: int) -> None:
    from lms_opscheck.sandbox.artifacts import pg_dump
    from tests.support.stacks import isolated_stack

    with isolated_stack(root / "stack") as state:
        server = state.postgres
        pg_restore = server.tool("pg_restore")
        rows = max(1, int(gib * 512))  # COPY writes bytea as hex: 2 bytes per byte
        with server.connect() as conn:
            conn.execute("CREATE DATABASE bench_scratch")
        with server.connect("bench_scratch") as conn:
            conn.execute("CREATE TABLE blobs (id int, payload bytea)")
            conn.execute(
                "INSERT INTO blobs SELECT g, pg_read_binary_file('/dev/urandom', 0, 1048576) "
                f"FROM generate_series(1, {rows}) g"
            )
        big = root / "big.dump"
        pg_dump(server, "bench_scratch", big, "-Fc", "-Z", "0", timeout=3600)
        with server.connect() as conn:
            conn.execute("DROP DATABASE bench_scratch")
        small = next((state.dir / "backups" / "db").glob("lms_*.dump"))
        print(
            f"dump sizes: big {big.stat().st_size / 2**30:.2f} GiB, small {small.stat().st_size} B"
        )
        raw = median(
            lambda: subprocess.run([pg_restore, "--list", str(big)], capture_output=True), repeat
        )
        probe = median(
            lambda: archive.list_archive(
                LocalShell(), pg_restore, str(big), timedelta(seconds=600)
            ),
            repeat,
        )
        print(
            f"pg_restore --list, big dump: median {raw * 1000:.1f} ms; "
            f"the probe: {probe * 1000:.1f} ms"
        )
        for label, path in (("small", small), ("big", big)):
            out = subprocess.run(
                [sys.executable, "-c", PEAK, pg_restore, str(path)],
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parents[1],
            ).stdout.split()
            print(
                f"peak RSS listing the {label} dump: check process {int(out[1]) / 1024:.1f} MiB, "
                f"pg_restore {int(out[2]) / 1024:.1f} MiB ({out[0]} TOC entries)"
            )
        big.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backups-") as tmp:
        bench_catalogue(Path(tmp), args.repeat)
        bench_archive(Path(tmp), args.gib, args.repeat)


if __name__ == "__main__":
    main()
