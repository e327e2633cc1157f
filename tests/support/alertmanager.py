"""A real Prometheus Alertmanager on 127.0.0.1 (Debian prometheus-alertmanager) for push tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

BINARY = "prometheus-alertmanager"
CONFIG = "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"


def available() -> bool:
    return shutil.which(BINARY) is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def alertmanager(root: Path, start_timeout: float = 15.0, config: str = CONFIG) -> Iterator[str]:
    """Start Alertmanager in ``root`` with ``config``; yield its base URL; stop it at the end,
    even on failure."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "alertmanager.yml").write_text(config)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (root / "alertmanager.log").open("wb")
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={root / 'alertmanager.yml'}",
            f"--storage.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"alertmanager did not start; see {root / 'alertmanager.log'}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def alerts(url: str) -> list[dict[str, Any]]:
    """The alerts Alertmanager holds now (GET /api/v2/alerts)."""
    response = httpx.get(f"{url}/api/v2/alerts", timeout=5)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found
