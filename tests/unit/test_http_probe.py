"""The HTTP probe is bounded as a whole, even against a server that trickles its answer."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from functools import partial

import pytest

from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes import http
from lms_opscheck.probes.concurrent import AsyncJob, measure_all
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

    async def get() -> http.HttpReply:
        async with http.Session(timeouts, tls=False) as session:
            return await session.get(http.Request(url))

    with pytest.raises(NoAnswer) as raised:
        asyncio.run(get())
    assert str(raised.value) == f"{url}: answer still arriving after 1.5s"


def test_one_tls_context_per_verify_setting_is_shared() -> None:
    assert http.ssl_context(True) is http.ssl_context(True)
    assert http.ssl_context(False) is http.ssl_context(False)
    assert http.ssl_context(True) is not http.ssl_context(False)


def test_refused_and_unresolvable_replicas_say_why_in_plain_words() -> None:
    from tests.support.stacks import closed_port

    port = closed_port()
    outcomes = measure_all(
        {
            "refused": AsyncJob(partial(_get, f"http://127.0.0.1:{port}/api/v1/health")),
            "unknown": AsyncJob(partial(_get, "http://opscheck-no-such-host.invalid/x")),
        },
        timedelta(seconds=5),
    )
    assert str(outcomes["refused"].error) == (
        f"http://127.0.0.1:{port}/api/v1/health: cannot connect (Connection refused)"
    )
    assert "name resolution failed" in str(outcomes["unknown"].error)


async def _get(url: str) -> http.HttpReply:
    async with http.Session(Timeouts(), tls=False) as session:
        return await session.get(http.Request(url))


def test_the_same_get_asked_twice_in_a_run_is_sent_once() -> None:
    """A replica's health answer is also the answer SEC-05 reads the headers of; a request
    that needs more of the body than the first one read is sent on its own."""
    from tests.support.fleet import fleet

    timeouts = Timeouts(connect=timedelta(seconds=2), request=timedelta(seconds=2))

    async def asked(port: int) -> tuple[list[http.HttpReply], int]:
        url = f"http://127.0.0.1:{port}/api/v1/health"
        async with http.Session(timeouts, tls=False) as session:
            replies = await asyncio.gather(
                session.get(http.Request(url)),
                session.get(http.Request(url, max_body=0)),  # headers only: shares the first
                session.get(http.Request(url, host="lms.example")),  # another Host: its own
            )
            after = await session.get(http.Request(url))  # the run's answer, not a new GET
            sent = len(session._sent)
        async with http.Session(timeouts, tls=False) as session:
            bare = await session.get(http.Request(url, max_body=0))
            whole = await session.get(http.Request(url))  # needs the body: sent again
        assert bare.body == "" and whole is not bare and whole.json() == {"status": "ok"}
        return [*replies, after], sent

    with fleet(1) as ports:
        replies, sent = asyncio.run(asked(ports[0]))
    assert sent == 2
    assert replies[0] is replies[1] is replies[3]
    assert replies[2] is not replies[0] and replies[2].host == "lms.example"
    assert replies[0].json() == {"status": "ok"}
    assert replies[1].headers["x-frame-options"] == "DENY"
