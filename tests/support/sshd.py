"""A real OpenSSH server on 127.0.0.1 with throwaway keys, for checks of remote hosts."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lms_opscheck.sandbox.processes import free_port, port_accepts, wait_until

SSHD = Path("/usr/sbin/sshd")
MISSING = f"{SSHD} is absent: apt-get install openssh-server to test checks over ssh"


@dataclass(frozen=True)
class Sshd:
    port: int
    identity_file: Path
    ssh_config: Path

    @property
    def uri(self) -> str:
        return f"ssh://root@127.0.0.1:{self.port}"

    def host(self) -> dict[str, str]:
        """The environment's ``hosts`` entry for this server."""
        return {
            "uri": self.uri,
            "identity_file": str(self.identity_file),
            "ssh_config": str(self.ssh_config),
        }


@contextmanager
def running_sshd(root: Path, extra_config: str = "") -> Iterator[Sshd]:
    """sshd on a free loopback port accepting root with a fresh key; stopped at the end.
    ``extra_config``: more sshd_config lines (e.g. ``MaxStartups 100`` for a bench)."""
    root.mkdir(parents=True, exist_ok=True)
    host_key, client_key = root / "host_ed25519", root / "client_ed25519"
    for key in (host_key, client_key):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
            check=True,
            timeout=30,
        )
    (root / "authorized_keys").write_text(client_key.with_suffix(".pub").read_text())
    port = free_port()
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\n"
        f"AuthorizedKeysFile {root / 'authorized_keys'}\nStrictModes no\n"
        f"PidFile {root / 'sshd.pid'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n"
        "LogLevel ERROR\n" + extra_config
    )
    client_config = root / "ssh_config"
    client_config.write_text(
        "Host *\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n"
        "  LogLevel ERROR\n  IdentitiesOnly yes\n"
    )
    os.makedirs("/run/sshd", exist_ok=True)
    log = (root / "sshd.log").open("wb")
    process = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_until(lambda: port_accepts(port), 10, "sshd", root / "sshd.log")
        yield Sshd(port, client_key, client_config)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()
