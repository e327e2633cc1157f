"""HTTP measurements: many GETs on one shared async client, each timed on its own.

One ``httpx.AsyncClient`` (one TLS context per verify setting, built once per process) serves
every replica, plus one per other trust a request names (a TLS endpoint with its own CA file);
keep-alive is off so each GET is a fresh connection like a load balancer's probe.
A request is timed from the moment it holds one of the ``concurrency`` slots, so waiting behind
other replicas' requests is never counted as the replica's latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes.errors import NoAnswer, Unreachable

#: Requests in flight at once: enough to finish 200 replicas in a few round trips, few enough
#: that one event loop serves each answer as it arrives.
CONCURRENCY = 32
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class HttpReply:
    url: str
    status: int
    latency: timedelta
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    #: The Host header sent, when the target names one (else the URL's host).
    host: str | None = None

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def excerpt(self, limit: int = 120) -> str:
        """The start of the body on one line, quoted, for failure messages."""
        text = " ".join(self.body.split())
        return repr(text[:limit] + ("…" if len(text) > limit else ""))

    @property
    def sent(self) -> str:
        """``URL`` or ``URL (Host: name)``: what was asked, as on-call needs to repeat it."""
        return f"{self.url} (Host: {self.host})" if self.host else self.url

    def __str__(self) -> str:
        return f"GET {self.sent} -> {self.status} in {format_duration(self.latency)}"


@dataclass(frozen=True)
class Request:
    """One GET: the URL, and the names to present instead of the URL's host."""

    url: str
    host: str | None = None
    server_name: str | None = None
    #: 0: status and headers only, the body is never read.
    max_body: int = MAX_BODY
    #: What an https answer is verified against, when not the session's own setting (a TLS
    #: endpoint declared with its own CA file or ``verify``).
    trust: ssl.SSLContext | None = None


@functools.lru_cache(maxsize=8)
def ssl_context(verify: bool, ca_file: str | None = None) -> ssl.SSLContext:
    """One context per verify setting per process: building one costs ~20 ms of CPU."""
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if ca_file is not None:
        return ssl.create_default_context(cafile=ca_file)
    return httpx.create_ssl_context()


class Session:
    """An async context holding the shared client; ``get`` may be awaited many times at once."""

    def __init__(
        self,
        timeouts: Timeouts,
        *,
        verify: bool = True,
        ca_file: Path | None = None,
        concurrency: int = CONCURRENCY,
        tls: bool = True,
    ) -> None:
        self._timeouts = timeouts
        # No TLS context is built for a plain-http fleet.
        self._verify = ssl_context(verify, str(ca_file) if ca_file else None) if tls else False
        self._concurrency = concurrency
        self._client: httpx.AsyncClient | None = None
        #: One more client per other trust setting a request asks for, made on first use.
        self._others: dict[ssl.SSLContext, httpx.AsyncClient] = {}
        self._slots: asyncio.Semaphore | None = None
        #: Each GET sent, by what makes it the same GET: (body bytes it reads, its answer).
        self._sent: dict[
            tuple[str, str | None, str | None, int], tuple[int, asyncio.Future[HttpReply]]
        ] = {}

    def _new_client(self, verify: ssl.SSLContext | bool) -> httpx.AsyncClient:
        timeout = httpx.Timeout(
            connect=self._timeouts.connect.total_seconds(),
            read=self._timeouts.request.total_seconds(),
            write=self._timeouts.request.total_seconds(),
            pool=None,  # never waits: the slots below keep requests within the pool's size
        )
        limits = httpx.Limits(max_connections=self._concurrency, max_keepalive_connections=0)
        return httpx.AsyncClient(
            timeout=timeout, verify=verify, limits=limits, follow_redirects=False
        )

    async def __aenter__(self) -> Session:
        self._client = self._new_client(self._verify)
        self._slots = asyncio.Semaphore(self._concurrency)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for client in [self._client, *self._others.values()]:
            if client is not None:
                await client.aclose()

    def _client_for(self, request: Request) -> httpx.AsyncClient:
        assert self._client is not None, "use `async with`"
        trust = request.trust
        if trust is None or trust is self._verify or not request.url.startswith("https:"):
            return self._client
        if trust not in self._others:
            self._others[trust] = self._new_client(trust)
        return self._others[trust]

    @property
    def whole_answer_bound(self) -> float:
        """A whole answer may take connect + read timeout, however the bytes trickle in."""
        return (self._timeouts.connect + self._timeouts.request).total_seconds()

    async def get(self, request: Request) -> HttpReply:
        """GET ``request.url``; read at most ``max_body`` bytes within the whole-answer bound.

        The same GET (URL, Host, SNI, trust) asked twice in a run is sent once: a replica's
        health answer is also the answer whose security headers SEC-05 reads. A request that
        needs more of the body than the first one read is sent on its own.
        """
        key = (request.url, request.host, request.server_name, id(self._client_for(request)))
        shared = self._sent.get(key)
        if shared is None or shared[0] < request.max_body:
            shared = (request.max_body, asyncio.ensure_future(self._get(request)))
            self._sent[key] = shared
        # Not shielded: at the deadline every waiter is cancelled, and so is the GET.
        return await shared[1]

    async def _get(self, request: Request) -> HttpReply:
        assert self._client is not None and self._slots is not None, "use `async with`"
        async with self._slots:
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.whole_answer_bound):
                    status, headers, body, encoding = await self._fetch(request)
            except TimeoutError:
                problem = f"answer still arriving after {self.whole_answer_bound:g}s"
                raise NoAnswer(request.url, problem) from None
            latency = timedelta(seconds=time.perf_counter() - started)
        return HttpReply(
            url=request.url,
            status=status,
            latency=latency,
            body=body.decode(encoding, errors="replace"),
            headers=headers,
            host=request.host,
        )

    async def _fetch(self, request: Request) -> tuple[int, dict[str, str], bytes, str]:
        client = self._client_for(request)
        headers = {"Host": request.host} if request.host else None
        extensions = {"sni_hostname": request.server_name} if request.server_name else None
        url = request.url
        with answered(url):
            async with client.stream(
                "GET", url, headers=headers, extensions=extensions
            ) as response:
                body = bytearray()
                if request.max_body > 0:
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) >= request.max_body:
                            break
                found = {k.lower(): v for k, v in response.headers.items()}
                return (
                    response.status_code,
                    found,
                    bytes(body[: request.max_body]),
                    (response.encoding or "utf-8"),
                )


@contextlib.contextmanager
def answered(url: str) -> Iterator[None]:
    """httpx's failures as the suite's: Unreachable (no connection) or NoAnswer (connected, but
    no whole answer in time), each naming ``url`` and the root cause."""
    try:
        yield
    except httpx.ConnectTimeout:
        raise Unreachable(url, "connect timed out") from None
    except httpx.TimeoutException:
        raise NoAnswer(url, "connected but no answer within the timeout") from None
    except httpx.ConnectError as exc:
        raise Unreachable(url, f"cannot connect ({_reason(exc)})") from None
    except httpx.HTTPError as exc:
        raise NoAnswer(url, f"{type(exc).__name__}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    """The root cause in plain words: ``Connection refused``, not anyio's summary of attempts."""
    cause: BaseException | None = exc
    found = exc
    for _ in range(8):  # httpx -> httpcore -> anyio's OSError -> the socket's own error
        if cause is None:
            break
        found = cause
        cause = cause.__cause__ or cause.__context__
    if isinstance(found, socket.gaierror):
        return f"name resolution failed: {found.strerror}"
    if isinstance(found, ssl.SSLError):
        return f"TLS: {getattr(found, 'verify_message', None) or found.reason or found}"
    if isinstance(found, OSError) and found.errno and found.errno > 0:
        return os.strerror(found.errno)
    return " ".join(str(exc).split()) or type(exc).__name__
