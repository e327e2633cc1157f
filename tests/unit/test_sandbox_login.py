"""The sandbox API's login: the LMS's rate limit (5/min per IP) and lockout (5 failures, 900 s)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from lms_opscheck.sandbox.api import LOGIN_PATH, ApiSettings, LoginGuard, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient


def test_five_failures_then_429_with_retry_after_and_request_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(ApiSettings(database_dsn=None, redis_url=None, faults_dir=tmp_path))
    caplog.set_level(logging.INFO)
    with TestClient(app, client=("203.0.113.5", 50000)) as client:
        body = {"email": "student@lms.example", "password": "canary-Pa55word"}
        answers = [client.post(LOGIN_PATH, json=body) for _ in range(6)]
        other = TestClient(app, client=("203.0.113.6", 50001)).post(LOGIN_PATH, json=body)
    assert [a.status_code for a in answers] == [401] * 5 + [429]
    assert answers[0].json() == {"success": False, "data": None,
                                 "message": "Invalid email or password"}  # fmt: skip
    assert 890 <= int(answers[5].headers["Retry-After"]) <= 900
    assert answers[5].headers["X-Content-Type-Options"] == "nosniff"  # edge headers still apply
    assert other.status_code == 401  # limits are per client address
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("POST /api/v1/auth/login -> 401 (") for m in messages) == 6
    assert sum(m.startswith("POST /api/v1/auth/login -> 429 (") for m in messages) == 1
    assert "login lockout for 203.0.113.5 after 5 failed attempts (900 s)" in messages
    assert not any("canary-Pa55word" in m for m in messages)


def test_rate_limit_and_lockout_are_separate_clocks() -> None:
    guard = LoginGuard()
    for second in range(4):
        assert guard.refuse("a", second) is None
        assert not guard.failed("a", second)
    assert guard.refuse("a", 4) is None
    assert guard.refuse("a", 5) == pytest.approx(55)  # 6th request in the minute: rate limit
    assert guard.failed("a", 4)  # the 5th failure locks the client out for 900 s
    assert guard.refuse("a", 120) == pytest.approx(784)
    assert guard.refuse("a", 905) is None
