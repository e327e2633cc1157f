"""Hosts over ssh: 20 hosts (20 names of one real sshd on 127.0.0.1) against 1 host.

Every host expects a process, a port, a mount and an uploads folder with the write probe on; all
of it, the write probe included, is one batched shell: one ssh command per host.

1. The host round (fixtures/hosts.py, what one run does once): 20 hosts vs 1 (pool 8).
2. ``pytest -m daily checks/test_hosts.py``: 20 hosts (120 checks) vs 1 host (6 checks), the
   issue's "20 ssh hosts against 1" (target <= 3x).
3. Pool size (``fleet.max_parallel``) on 20 hosts: 1, 4, 8, 16.
4. ssh ControlMaster (``fleet.multiplex``) on and off, on 20 hosts (pool 8).

5. 1-2 again with root's own login shell: on this machine root's ~/.bashrc runs ``pyenv init``
   (0.14-0.4 s of CPU), which bash sources for every command sshd starts. Sections 1-4 are run
   with ``SetEnv SHLVL=1`` in sshd_config (bash then skips ~/.bashrc) so that they measure the
   suite, not this machine's profile; section 5 is what a login with a heavy rc file costs.
6. 1-2 again with ``KexAlgorithms curve25519-sha256`` in the hosts' ssh_config: OpenSSH 9.2's
   default key exchange (sntrup761x25519, post-quantum hybrid) costs ~0.1 s of CPU per
   handshake on each side here, which is most of a host's cost. The suite keeps ssh's
   default; an operator may choose otherwise in the ssh_config the hosts use.

sshd here runs with ``MaxStartups 100``: with its default (10:30:100) one sshd drops some of 16
simultaneous handshakes, which production (one sshd per host) never sees.
Runs alternate so that machine noise hits every variant alike; medians are printed.
Usage: python bench/bench_hosts.py [--rounds N] [--hosts N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _alternate import Sample, alternate, ratio  # noqa: E402  (bench/ is on sys.path)

from lms_opscheck.config.model import Environment  # noqa: E402
from lms_opscheck.fixtures.hosts import HostRound  # noqa: E402
from tests.support.sshd import Sshd, running_sshd  # noqa: E402

WANTED = frozenset({"processes", "ports", "mounts", "uploads", "write_probe"})


def config(sshd: Sshd, names: list[str], uploads: Path, **fleet: Any) -> dict[str, Any]:
    expect = {
        "processes": ["sshd"],
        "ports": [sshd.port],
        "mounts": [{"path": "/", "min_free": "1%"}],
        "uploads": {"path": str(uploads), "min_free": "1%", "write_probe": True},
    }
    hosts = {
        name: {
            "uri": f"ssh://root@{name}",
            "identity_file": str(sshd.identity_file),
            "ssh_config": str(sshd.ssh_config),
            "expect": expect,
        }
        for name in names
    }
    return {
        "name": "hosts",
        "timeouts": {"connect": "2s", "request": "2s", "deadline": "6s"},
        "hosts": hosts,
        "fleet": fleet,
    }


def host_round(env: Environment) -> Sample:
    control = Path(tempfile.mkdtemp(prefix="opsck-")) if env.fleet.multiplex else None
    started = time.perf_counter()
    done = HostRound(env, WANTED, control)
    seconds = time.perf_counter() - started
    errors = sum(1 for o in done.outcomes.values() if o.error is not None)
    return seconds, f"{len(done.outcomes)} hosts, errors {errors}"


def pytest_run(env_file: Path) -> Sample:
    out = tempfile.mkdtemp(prefix="bench-hosts-")
    command = [
        *(sys.executable, "-m", "pytest", "-q", "-m", "daily", "checks/test_hosts.py"),
        *(f"--env={env_file}", f"--out={out}"),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    last = [ln for ln in done.stdout.splitlines() if " in " in ln and "passed" in ln]
    return seconds, f"exit {done.returncode}: {last[-1].split(' in ')[0] if last else '?'}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hosts", type=int, default=20)
    options = parser.parse_args()
    rounds, count = options.rounds, options.hosts
    folder = Path(tempfile.mkdtemp(prefix="bench-hosts-env-"))
    uploads = folder / "uploads"
    uploads.mkdir()
    with running_sshd(folder / "sshd", "MaxStartups 100\nSetEnv SHLVL=1\n") as sshd:
        compare(sshd, folder, uploads, rounds, count, full=True)
    print("\n5. as 1-2, with root's own login shell (its ~/.bashrc runs at every ssh command)")
    with running_sshd(folder / "sshd-rc", "MaxStartups 100\n") as sshd:
        compare(sshd, folder, uploads, rounds, count, full=False)
    print("\n6. as 1-2, with `KexAlgorithms curve25519-sha256` in the hosts' ssh_config")
    with running_sshd(folder / "sshd-kex", "MaxStartups 100\nSetEnv SHLVL=1\n") as sshd:
        kex = "  KexAlgorithms curve25519-sha256\n"
        compare(sshd, folder, uploads, rounds, count, full=False, client=kex)
    assert not list(uploads.iterdir()), "the write probe left files behind"


def compare(
    sshd: Sshd,
    folder: Path,
    uploads: Path,
    rounds: int,
    count: int,
    full: bool,
    client: str = "",
) -> None:
    names = [f"host-{n:02d}" for n in range(1, count + 1)]
    aliases = "".join(
        f"Host {name}\n  HostName 127.0.0.1\n  Port {sshd.port}\n{client}" for name in names
    )
    sshd.ssh_config.write_text(aliases + sshd.ssh_config.read_text())

    def env(hosts: list[str], **fleet: Any) -> Environment:
        return Environment.model_validate(config(sshd, hosts, uploads, **fleet))

    one, many = env(names[:1]), env(names)
    muxed = env(names, multiplex=True)
    host_round(one)  # warm-up: imports, first handshake
    print(f"\n1. host round (once per run): {count} ssh hosts vs 1 (pool 8)")
    m = alternate(
        rounds,
        {"1 host": lambda: host_round(one), f"{count} hosts": lambda: host_round(many)},
    )
    ratio(f"{count} / 1 host", m[f"{count} hosts"], m["1 host"])

    files = {}
    for label, hosts in (("one", names[:1]), ("many", names)):
        files[label] = folder / f"{label}-{sshd.port}.yaml"
        files[label].write_text(yaml.safe_dump(config(sshd, hosts, uploads)))
    print(f"\n2. pytest -m daily checks/test_hosts.py: {count} hosts vs 1")
    m = alternate(
        rounds,
        {
            "1 host (6 checks)": lambda: pytest_run(files["one"]),
            f"{count} hosts ({6 * count} checks)": lambda: pytest_run(files["many"]),
        },
    )
    values = list(m.values())
    ratio(f"{count} / 1 host", values[1], values[0], target=3)
    if not full:
        return

    print(f"\n3. pool size (fleet.max_parallel), {count} hosts")
    pools = {n: env(names, max_parallel=n) for n in (1, 4, 8, 16)}
    m = alternate(
        rounds, {f"max_parallel {n}": (lambda e=e: host_round(e)) for n, e in pools.items()}
    )
    ratio("pool 8 / pool 1", m["max_parallel 8"], m["max_parallel 1"])

    print(f"\n4. ssh ControlMaster (fleet.multiplex), {count} hosts, one command each")
    m = alternate(
        rounds,
        {"multiplex on": lambda: host_round(muxed), "multiplex off": lambda: host_round(many)},
    )
    ratio("on / off", m["multiplex on"], m["multiplex off"])


if __name__ == "__main__":
    main()
