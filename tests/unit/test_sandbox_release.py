"""The sandbox API's deployed release: version (endpoint, header, app_info), the synthetic
account's login and /auth/me, and the fault files that break them."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from lms_opscheck.sandbox.accounts import ME_PATH, SMOKE_EMAIL, VERSION_PATH
from lms_opscheck.sandbox.api import LOGIN_PATH, ApiSettings, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "canary-smoke-Pa55"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("SANDBOX_API_SMOKE_EMAIL", SMOKE_EMAIL)
    monkeypatch.setenv("SANDBOX_API_SMOKE_PASSWORD", PASSWORD)
    monkeypatch.setenv("SANDBOX_API_TOKEN_PREFIX", "tok-")
    settings = ApiSettings(database_dsn=None, redis_url=None, faults_dir=tmp_path, version="1.2.3")
    return TestClient(create_app(settings))


def test_version_is_told_by_endpoint_header_and_app_info(client: TestClient) -> None:
    answer = client.get(VERSION_PATH)
    assert answer.json() == {"version": "1.2.3", "build": {"version": "1.2.3"}}
    assert client.get("/api/v1/health").headers["X-App-Version"] == "1.2.3"
    assert 'app_info{version="1.2.3"} 1.0' in client.get("/metrics").text


def test_the_version_fault_deploys_another_release_or_none(
    client: TestClient, tmp_path: Path
) -> None:
    (tmp_path / "version").write_text("0.9.9\n")
    assert client.get(VERSION_PATH).json()["version"] == "0.9.9"
    (tmp_path / "version").write_text("none")
    answer = client.get(VERSION_PATH)
    assert answer.status_code == 404 and "X-App-Version" not in answer.headers
    assert "app_info" not in client.get("/metrics").text


def test_the_synthetic_account_logs_in_and_reads_its_profile(client: TestClient) -> None:
    assert client.get(ME_PATH).status_code == 401
    login = client.post(LOGIN_PATH, json={"email": SMOKE_EMAIL, "password": PASSWORD})
    token = login.json()["data"]["tokens"]["access_token"]
    assert login.status_code == 200 and token.startswith("tok-")
    me = client.get(ME_PATH, headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["data"]["email"] == SMOKE_EMAIL
    assert client.get(ME_PATH, headers={"Authorization": "Bearer tok-forged"}).status_code == 401
    wrong = client.post(LOGIN_PATH, json={"email": SMOKE_EMAIL, "password": "nope"})
    assert wrong.status_code == 401


def test_login_500_and_an_open_profile_are_faults(client: TestClient, tmp_path: Path) -> None:
    (tmp_path / "login_500").write_text("1")
    assert client.post(LOGIN_PATH, json={}).status_code == 500
    (tmp_path / "auth_me_open").write_text("1")
    assert client.get(ME_PATH).status_code == 200
