"""Redis MONITOR in a thread: every command the server ran, by client connection."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import redis

_STOP = "opscheck-selftest-monitor-stop"


@contextmanager
def monitored(port: int, password: str | None = None) -> Iterator[dict[str, list[str]]]:
    """Commands by client ``address:port``, filled until the block ends."""
    commands: dict[str, list[str]] = defaultdict(list)
    watcher = redis.Redis(port=port, password=password)
    listening = threading.Event()

    def listen() -> None:
        with watcher.monitor() as monitor:
            listening.set()
            for entry in monitor.listen():
                if _STOP in entry["command"]:
                    return
                client = f"{entry['client_address']}:{entry['client_port']}"
                commands[client].append(entry["command"])

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    listening.wait(5)
    time.sleep(0.1)  # MONITOR is in effect once the server answered it
    try:
        yield commands
    finally:
        with redis.Redis(port=port, password=password) as stopper:
            stopper.echo(_STOP)
        thread.join(5)
        watcher.close()
