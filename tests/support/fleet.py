"""Many real API replicas on 127.0.0.1: one process, one asyncio listener per port.

Each listener speaks just enough HTTP/1.1 for the LMS's health contract (``/api/v1/health``,
``/api/v1/ready``, ``/metrics``), with TCP_NODELAY and ``Connection: close``, so that a fleet
of hundreds costs one process. Run as ``python -m tests.support.fleet N``: it prints the ports
as one JSON line once every listener accepts, and serves until its stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

METRICS = (
    "# HELP http_requests_total Total HTTP requests.\n"
    "# TYPE http_requests_total counter\n"
    'http_requests_total{method="GET",path="/api/v1/health",status="200"} 1.0\n'
    "# HELP http_request_duration_seconds HTTP request duration in seconds.\n"
    "# TYPE http_request_duration_seconds histogram\n"
    'http_request_duration_seconds_bucket{method="GET",path="/api/v1/health",le="0.1"} 1.0\n'
    'http_request_duration_seconds_bucket{method="GET",path="/api/v1/health",le="+Inf"} 1.0\n'
    'http_request_duration_seconds_count{method="GET",path="/api/v1/health"} 1.0\n'
    'http_request_duration_seconds_sum{method="GET",path="/api/v1/health"} 0.002\n'
    "# HELP http_requests_in_progress HTTP requests currently being served.\n"
    "# TYPE http_requests_in_progress gauge\n"
    "http_requests_in_progress 1.0\n"
)
ROUTES = {
    "/api/v1/health": (200, "application/json", '{"status":"ok"}'),
    "/api/v1/ready": (200, "application/json", '{"status":"ok","database":"up","redis":"up"}'),
    "/metrics": (200, "text/plain; version=0.0.4; charset=utf-8", METRICS),
    "/api/v1/auth/me": (401, "application/json", '{"detail":"Not authenticated"}'),
}
#: What the LMS sends on every answer (lms-target.md): a healthy replica passes SEC-05.
SECURITY_HEADERS = (
    "x-content-type-options: nosniff\r\nx-frame-options: DENY\r\n"
    "referrer-policy: strict-origin-when-cross-origin\r\n"
    "permissions-policy: geolocation=()\r\ncontent-security-policy: default-src 'self'\r\n"
)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1].decode("latin-1")
        status, content_type, body = ROUTES.get(path, (404, "application/json", "{}"))
        data = body.encode()
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(data)}\r\n{SECURITY_HEADERS}connection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, IndexError, OSError):
        pass
    finally:
        writer.close()


async def _serve(count: int) -> None:
    servers = [
        await asyncio.start_server(_answer, "127.0.0.1", 0, backlog=512) for _ in range(count)
    ]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    print(json.dumps(ports), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin


@contextmanager
def fleet(count: int) -> Iterator[list[int]]:
    """``count`` healthy replicas on free loopback ports; stopped at the end, even on failure."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fleet", str(count)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fleet of {count} listeners did not start")
        yield [int(port) for port in json.loads(line)]
    finally:
        process.kill()
        process.wait(10)


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1])))
