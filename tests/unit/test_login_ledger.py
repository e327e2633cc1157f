"""The gate's login budget: one login per run, Retry-After honoured, logins and failures capped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lms_opscheck.config.deploy import SmokeGate
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.login_ledger import Attempt, Ledger, Refusal, refusal

NOW = datetime(2026, 11, 28, 10, 0, 0, tzinfo=UTC)
GATE = SmokeGate(account="smoke@lms.example")


def attempt(seconds_ago: float, outcome: str = "ok", run: str = "old", retry: float = 0) -> Attempt:
    at = NOW - timedelta(seconds=seconds_ago)
    return Attempt(f"id{seconds_ago}", at, "http://api", outcome, run, retry)


def refused(*attempts: Attempt, run: str = "this") -> Refusal | None:
    return refusal(list(attempts), NOW, GATE, run, "ledger L")


def test_a_first_login_is_allowed() -> None:
    assert refused() is None


def test_a_run_never_logs_in_twice() -> None:
    found = refused(attempt(3000, run="this"))
    assert found is not None and found.allowed_at is None
    assert "this run already attempted its one login" in str(found)


def test_a_429_blocks_until_its_retry_after_has_passed() -> None:
    found = refused(attempt(100, "rate_limited", retry=900))
    assert found is not None and found.allowed_at == NOW + timedelta(seconds=800)
    assert "answered 429 at 09:58:20Z with Retry-After 900s" in str(found)
    assert refused(attempt(1000, "rate_limited", retry=900)) is None


def test_two_logins_a_minute_then_wait_for_the_older_to_age_out() -> None:
    assert refused(attempt(50)) is None
    found = refused(attempt(50), attempt(10))
    assert found is not None and found.allowed_at == NOW + timedelta(seconds=10)
    assert "2 login(s) by the gate in the last 1m; budget deploy.smoke.max_logins=2" in str(found)
    assert "allowed again at 2026-11-28T10:00:10Z" in str(found)
    assert refused(attempt(70), attempt(10)) is None


def test_two_failures_in_15_minutes_stop_the_gate_before_the_lms_locks_the_ip() -> None:
    found = refused(attempt(600, "rejected"), attempt(300, "pending"))
    assert found is not None and found.allowed_at == NOW + timedelta(seconds=300)
    assert "2 failed login(s) by the gate in the last 15m" in str(found)
    assert "the LMS locks an IP out after 5" in str(found)
    # Logins that went well, or never reached the API, are not failures.
    assert refused(attempt(600, "ok"), attempt(300, "unsent"), attempt(200, "rejected")) is None


def test_reserve_writes_pending_and_settle_records_the_outcome(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "sub" / "ledger.jsonl")
    first = ledger.reserve(GATE, "http://api", "run-1", NOW)
    assert isinstance(first, Attempt) and ledger.attempts()[0].outcome == "pending"
    ledger.settle(first, "rate_limited", 900)
    [only] = ledger.attempts()
    assert (only.outcome, only.retry_after, only.run) == ("rate_limited", 900, "run-1")
    again = ledger.reserve(GATE, "http://api", "run-2", NOW + timedelta(seconds=5))
    assert isinstance(again, Refusal)
    text = (tmp_path / "sub" / "ledger.jsonl").read_text()
    assert "password" not in text and "token" not in text


def test_a_damaged_ledger_is_unreadable_not_ignored(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text('{"id": "x"}\n')
    with pytest.raises(Unreadable, match="line 1 is not a ledger entry"):
        Ledger(path).reserve(GATE, "http://api", "run", NOW)
