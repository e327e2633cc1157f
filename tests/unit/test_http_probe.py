"""The HTTP probe is bounded as a whole, even against a server that trickles its answer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes import http
from lms_opscheck.probes.errors import NoAnswer


@pytest.fixture
def trickling_server() -> Iterator[int]:
    """Answers headers at once, then one body byte every 0.2 s (each read is 'on time')."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"x")
                except OSError:
                    return
                time.sleep(0.2)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    server.close()


def test_a_trickled_answer_is_cut_at_connect_plus_read_timeout(trickling_server: int) -> None:
    timeouts = Timeouts(connect=timedelta(milliseconds=500), request=timedelta(seconds=1))
    url = f"http://127.0.0.1:{trickling_server}/api/v1/health"
    with http.client(timeouts) as client, pytest.raises(NoAnswer) as raised:
        http.get(client, url)
    assert str(raised.value) == f"{url}: answer still arriving after 1.5s"
