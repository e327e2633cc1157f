"""Real, isolated LMS-like stacks for fault injection: each test breaks its own copy."""

from __future__ import annotations

import copy
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from lms_opscheck.config.loader import ENVIRONMENTS_DIR
from lms_opscheck.sandbox import stack


def sandbox_config(state: stack.State, **overrides: Any) -> dict[str, Any]:
    """environments/sandbox.yaml bound to ``state`` (not embedded), with overrides merged in."""
    text = (ENVIRONMENTS_DIR / "sandbox.yaml").read_text()
    variables = state.environ()
    # ${VAR} and ${VAR:-default}, as config/loader.py reads them (an empty value is unset).
    text = re.sub(
        r"\$\{(SANDBOX_[A-Z0-9_]+)(?::-([^}]*))?\}",
        lambda m: variables.get(m[1]) or (m[2] if m[2] is not None else m[0]),
        text,
    )
    config: dict[str, Any] = yaml.safe_load(text)
    config.pop("embedded", None)
    config["name"] = "selftest"
    return merge(config, overrides)


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


@contextmanager
def private_root() -> Iterator[Path]:
    """A folder for a sandbox of a test's own, removed afterwards.

    PostgreSQL runs as `nobody`; every pytest start resets /tmp/pytest-of-root to 0700, which
    would cut a running server off its data folder: stacks live outside pytest's tmp.
    """
    folder = Path(tempfile.mkdtemp(prefix="opscheck-stack-"))
    folder.chmod(0o755)
    try:
        yield folder / "stack"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def isolated_stack(
    root: Path, *, worker_name: str | None = None, redis_auth: str | None = None
) -> Iterator[stack.State]:
    """A whole sandbox in ``root`` on its own ports; stopped at the end, even on failure.

    ``worker_name`` ("" or None: Celery's ``celery@<hostname>``) and ``redis_auth``
    (``required`` or ``none``; None: the sandbox's default) choose the layout.
    """
    try:
        state, _ = stack.up(root, worker_name=worker_name, redis_auth=redis_auth)
        yield state
    finally:
        stack.down(root)


@contextmanager
def black_hole() -> Iterator[int]:
    """A port that accepts TCP connections and never answers (a hung dependency)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                accepted.append(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(1)
        for conn in accepted:
            conn.close()
        server.close()


def hung_config(port: int, deadline: str = "3s") -> dict[str, Any]:
    """An environment whose every daily target is the black hole on ``port``."""
    hung = {"host": "127.0.0.1", "port": port}
    return {
        "name": "hung",
        "timeouts": {"connect": "2s", "request": "2s", "deadline": deadline},
        "targets": {
            "api": {"replicas": [f"http://127.0.0.1:{port}"]},
            "postgres": {**hung, "sslmode": "disable"},
            "redis": hung,
            "celery": {"broker": {**hung, "db": 1}},
        },
    }


def closed_port() -> int:
    """A port with nothing listening (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
