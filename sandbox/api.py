"""Reference LMS HTTP API (health, readiness, metrics, version, login with one synthetic
account, /auth/me) with file-driven fault injection and, when ``SANDBOX_API_LOG_FILE`` is set,
the LMS's log format."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

import psycopg
import redis
import uvicorn
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lms_opscheck.sandbox.accounts import (
    ME_PATH,
    VERSION_HEADER,
    VERSION_PATH,
    Accounts,
    current_version,
)

log = logging.getLogger(__name__)

HEALTH_PATH = "/api/v1/health"
READY_PATH = "/api/v1/ready"
METRICS_PATH = "/metrics"
# Unknown paths share one label value so scanners cannot blow up series cardinality.
LOGIN_PATH = "/api/v1/auth/login"
KNOWN_PATHS = frozenset({HEALTH_PATH, READY_PATH, METRICS_PATH, VERSION_PATH, LOGIN_PATH, ME_PATH})
UNMATCHED_PATH_LABEL = "<unmatched>"

SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), camera=()",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
HSTS_VALUE = "max-age=31536000; includeSubDomains; preload"

CHECK_TIMEOUT_S = 1


@dataclass(frozen=True)
class ApiSettings:
    """Dependency locations; the DSN and URL may carry passwords and are never echoed."""

    database_dsn: str | None
    redis_url: str | None
    faults_dir: Path | None = None
    #: The release this API reports (endpoint, header, app_info); the ``version`` fault wins.
    version: str | None = None

    @classmethod
    def from_environ(cls) -> ApiSettings:
        faults = os.environ.get("SANDBOX_API_FAULTS_DIR") or None
        return cls(
            database_dsn=os.environ.get("SANDBOX_API_DATABASE_DSN") or None,
            redis_url=os.environ.get("SANDBOX_API_REDIS_URL") or None,
            faults_dir=Path(faults) if faults else None,
            version=os.environ.get("SANDBOX_API_VERSION") or None,
        )

    def current_version(self) -> str | None:
        return current_version(self.faults_dir, self.version)


def _check_database(dsn: str | None) -> bool:
    if dsn is None:
        return False
    try:
        # Keyword args override the same keys in the DSN, so a hung server cannot stall /ready.
        # psycopg raises connect_timeout below 2 s to 2 s, so this probe's worst case is ~2 s.
        with psycopg.connect(
            dsn,
            connect_timeout=CHECK_TIMEOUT_S,
            options=f"-c statement_timeout={CHECK_TIMEOUT_S * 1000}",
        ) as conn:
            conn.execute("SELECT 1")
        return True
    except (psycopg.Error, OSError) as exc:
        # Only the type: libpq/psycopg messages may echo connection parameters.
        log.warning("readiness: database check failed (%s)", type(exc).__name__)
        return False


def _check_redis(url: str | None) -> bool:
    if url is None:
        return False
    try:
        # redis-py 8 retries 3 times with backoff by default; a probe must fail fast instead.
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=CHECK_TIMEOUT_S,
            socket_timeout=CHECK_TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),
        )
        with client:
            return bool(client.ping())
    except (redis.RedisError, OSError, ValueError) as exc:
        # ValueError covers a malformed URL; as above, the message is not logged.
        log.warning("readiness: redis check failed (%s)", type(exc).__name__)
        return False


def _fault_file(settings: ApiSettings, name: str) -> Path | None:
    if settings.faults_dir is None:
        return None
    path = settings.faults_dir / name
    return path if os.path.exists(path) else None


def _forced_down(settings: ApiSettings) -> list[str]:
    """Dependencies the ``ready_degraded`` fault reports as down, whatever their real state."""
    path = _fault_file(settings, "ready_degraded")
    try:
        return path.read_text().split() if path is not None else []
    except OSError:  # toggled while we read it
        return []


def _slow_ms(settings: ApiSettings) -> float:
    path = _fault_file(settings, "slow_ms")
    if path is None:
        return 0.0
    try:
        return max(0.0, float(path.read_text().strip()))
    except (OSError, ValueError):
        # The file may vanish or be half-written while a test toggles it.
        return 0.0


def _dropped_header(settings: ApiSettings) -> str:
    """Fault ``drop_header``: the file names one security header the API stops sending."""
    path = _fault_file(settings, "drop_header")
    if path is None:
        return ""
    try:
        return path.read_text().strip().lower()
    except OSError:
        return ""


class _VersionInfo:
    """``app_info{version="..."} 1``, as the LMS's build-info gauge; absent without a version."""

    def __init__(self, settings: ApiSettings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        version = self.settings.current_version()
        if version is not None:
            info = GaugeMetricFamily("app_info", "The deployed release.", labels=["version"])
            info.add_metric([version], 1.0)
            yield info


class _Metrics:
    def __init__(self, settings: ApiSettings) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests_total",
            "Total HTTP requests.",
            ["method", "path", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration in seconds.",
            ["method", "path"],
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests currently being served.",
            registry=self.registry,
        )
        self.registry.register(_VersionInfo(settings))


class _EdgeMiddleware:
    """Security headers, request metrics and the slow_ms fault, applied to every response."""

    def __init__(self, app: ASGIApp, *, settings: ApiSettings, metrics: _Metrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        raw_path: str = scope["path"]
        path = raw_path if raw_path in KNOWN_PATHS else UNMATCHED_PATH_LABEL
        https = scope.get("scheme") == "https"
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                dropped = _dropped_header(self.settings)
                for name, value in SECURITY_HEADERS.items():
                    if name.lower() != dropped:
                        headers.setdefault(name, value)
                if https and dropped != "strict-transport-security":
                    headers.setdefault("Strict-Transport-Security", HSTS_VALUE)
                version = self.settings.current_version()
                if version is not None:
                    headers.setdefault(VERSION_HEADER, version)
            await send(message)

        self.metrics.in_progress.inc()
        start = time.perf_counter()
        try:
            delay_ms = _slow_ms(self.settings)
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.duration.labels(method, path).observe(time.perf_counter() - start)
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.in_progress.dec()


def create_app(settings: ApiSettings) -> Starlette:
    """Build an app with its own metrics registry, so several instances can share a process."""
    metrics = _Metrics(settings)

    async def health(request: Request) -> Response:
        if _fault_file(settings, "health_500") is not None:
            return JSONResponse({"status": "error"}, status_code=500)
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        # Both probes in parallel keep the worst case near one timeout rather than two.
        db_up, redis_up = await asyncio.gather(
            run_in_threadpool(_check_database, settings.database_dsn),
            run_in_threadpool(_check_redis, settings.redis_url),
        )
        forced_down = _forced_down(settings)
        db_up = db_up and "database" not in forced_down
        redis_up = redis_up and "redis" not in forced_down
        ok = db_up and redis_up
        body = {
            "status": "ok" if ok else "degraded",
            "database": "up" if db_up else "down",
            "redis": "up" if redis_up else "down",
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics_endpoint(request: Request) -> Response:
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(metrics.registry), headers={"Content-Type": content_type})

    async def version(request: Request) -> Response:
        current = settings.current_version()
        if current is None:
            return JSONResponse({"success": False, "data": None, "message": "Not found"}, 404)
        return JSONResponse({"version": current, "build": {"version": current}})

    async def http_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, HTTPException):
            raise exc
        message = "Not found" if exc.status_code == HTTPStatus.NOT_FOUND else exc.detail
        return JSONResponse(
            {"success": False, "data": None, "message": message},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    app = Starlette(
        routes=[
            Route(HEALTH_PATH, health, methods=["GET"]),
            Route(READY_PATH, ready, methods=["GET"]),
            Route(METRICS_PATH, metrics_endpoint, methods=["GET"]),
            Route(VERSION_PATH, version, methods=["GET"]),
        ],
        middleware=[Middleware(_EdgeMiddleware, settings=settings, metrics=metrics)],
        exception_handlers={HTTPException: http_error},
    )
    _add_login_and_request_log(app, settings)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.api", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    app = create_app(ApiSettings.from_environ())
    log_file = os.environ.get("SANDBOX_API_LOG_FILE")
    if log_file:
        _log_like_the_lms(Path(log_file))
        uvicorn.run(app, host=args.host, port=args.port, log_config=None, log_level="info")
        return
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


# -- The LMS's login rate limit and lockout, and its application log --------------------------

LMS_LOG_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
request_log = logging.getLogger("app.request")
auth_log = logging.getLogger("app.auth")


@dataclass
class LoginGuard:
    """The LMS's auth limits: 5 requests/min per IP (6th: 429), 5 failures lock the IP 900 s."""

    per_minute: int = 5
    lockout_failures: int = 5
    lockout_seconds: float = 900.0
    _recent: dict[str, deque[float]] = field(default_factory=dict)
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _locked_until: dict[str, float] = field(default_factory=dict)

    def refuse(self, client: str, now: float) -> float | None:
        """Seconds to wait when ``client`` may not try now (locked out or over the rate)."""
        locked = self._locked_until.get(client, 0.0)
        if locked > now:
            return locked - now
        recent = self._recent.setdefault(client, deque())
        while recent and recent[0] <= now - 60:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return recent[0] + 60 - now
        recent.append(now)
        return None

    def failed(self, client: str, now: float) -> bool:
        """Record a failed login; True when it locks the client out."""
        failures = self._failures.setdefault(client, deque(maxlen=self.lockout_failures))
        failures.append(now)
        if len(failures) == self.lockout_failures and now - failures[0] <= self.lockout_seconds:
            self._locked_until[client] = now + self.lockout_seconds
            failures.clear()
            return True
        return False


def _add_login_and_request_log(app: Starlette, settings: ApiSettings) -> None:
    guard = LoginGuard()
    accounts = Accounts.from_environ()

    async def login(request: Request) -> Response:
        client = request.client.host if request.client else "unknown"
        now = time.monotonic()
        wait = guard.refuse(client, now)
        if wait is not None:
            return JSONResponse(
                {"success": False, "data": None, "message": "Too many login attempts"},
                status_code=429,
                headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )
        if _fault_file(settings, "login_500") is not None:
            return JSONResponse({"success": False, "data": None, "message": "Internal error"}, 500)
        # The body holds a password: it is never logged.
        try:
            body = await request.json()
        except ValueError:
            body = None
        credentials = body if isinstance(body, dict) else {}
        token = accounts.login(credentials.get("email"), credentials.get("password"))
        if token is not None:
            tokens = {"access_token": token, "refresh_token": None, "token_type": "bearer"}
            return JSONResponse({"success": True, "data": {"tokens": tokens}, "message": "OK"})
        if guard.failed(client, now):
            auth_log.warning(
                "login lockout for %s after %d failed attempts (%d s)",
                client,
                guard.lockout_failures,
                guard.lockout_seconds,
            )
        return JSONResponse(
            {"success": False, "data": None, "message": "Invalid email or password"},
            status_code=401,
        )

    async def me(request: Request) -> Response:
        if _fault_file(settings, "auth_me_open") is not None:  # a deploy that lost its auth
            return JSONResponse({"success": True, "data": {"email": None}, "message": "OK"})
        email = accounts.user(request.headers.get("authorization"))
        if email is None:
            return JSONResponse(
                {"success": False, "data": None, "message": "Not authenticated"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return JSONResponse({"success": True, "data": {"email": email}, "message": "OK"})

    app.add_route(LOGIN_PATH, login, methods=["POST"])
    app.add_route(ME_PATH, me, methods=["GET"])
    app.add_middleware(_RequestLogMiddleware)


class _RequestLogMiddleware:
    """``app.request`` lines as the LMS writes them: ``POST /api/v1/auth/login -> 401 (3.2 ms)``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                elapsed = (time.perf_counter() - start) * 1000
                request_log.info("%s %s -> %d (%.2f ms)", scope["method"], scope["path"], status,
                                 elapsed)  # fmt: skip
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _log_like_the_lms(path: Path) -> None:
    """The LMS's plain-text lines and uvicorn's own lines in one file, reopened when rotated."""
    from uvicorn.logging import AccessFormatter, DefaultFormatter

    path.parent.mkdir(parents=True, exist_ok=True)
    formats: list[tuple[str, logging.Formatter]] = [
        ("", logging.Formatter(LMS_LOG_FORMAT)),
        ("uvicorn", DefaultFormatter("%(levelprefix)s %(message)s", use_colors=False)),
        (
            "uvicorn.access",
            AccessFormatter(
                '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
                use_colors=False,
            ),
        ),
    ]
    for name, formatter in formats:
        handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
        handler.setFormatter(formatter)
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = not name


if __name__ == "__main__":
    main()
