"""The gate's own record of the logins it attempted, so repeated runs respect the LMS's limits.

The LMS allows 5 auth requests per minute per client IP (the 6th gets 429) and locks an IP out
for 15 minutes after 5 failed logins. A CI job re-run after a red gate, or several deploys in a
row, must neither spend the users' share of that limit nor lock the runner's IP out. The ledger
holds one JSON line per attempt (time, replica, outcome, run; never a credential or a token),
and a login is refused — before any request — when (in this order):

1. this run already attempted one (never more than one login per run);
2. the API answered 429 and its Retry-After has not passed yet;
3. ``max_logins`` attempts happened within ``window`` (default 2 per minute: at most 2 of the
   5 per minute the IP gets, whatever else runs from it);
4. ``max_failures`` attempts failed within ``failure_window`` (default 2 per 15 minutes: the gate
   alone can never cause the 5-failure lockout, and a wrong password is not retried at every
   deploy). An attempt whose outcome was never written (the run died) counts as failed.

The decision and the "pending" line are written under an exclusive lock, so concurrent gate
runs sharing a ledger cannot both take the last slot.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from lms_opscheck.config.deploy import SmokeGate
from lms_opscheck.config.durations import format_duration
from lms_opscheck.probes.errors import Unreadable

#: Outcomes that count towards the lockout (a login the API may have counted as failed).
FAILED = ("rejected", "server_error", "pending")
#: Lines kept when the ledger is rewritten (a day of deploys is far less).
KEEP = 200


@dataclass(frozen=True)
class Attempt:
    id: str
    at: datetime
    replica: str
    outcome: str  # pending | ok | rejected | server_error | rate_limited | unsent
    run: str
    retry_after: float = 0.0


@dataclass(frozen=True)
class Refusal:
    """Why the gate did not log in, and when it may."""

    reason: str
    allowed_at: datetime | None  # None: not in this run

    def __str__(self) -> str:
        if self.allowed_at is None:
            return self.reason
        return f"{self.reason}; allowed again at {self.allowed_at:%Y-%m-%dT%H:%M:%SZ}"


def refusal(
    attempts: list[Attempt], now: datetime, smoke: SmokeGate, run: str, where: str
) -> Refusal | None:
    """The first rule (module docstring) that forbids a login now, or None."""
    if any(a.run == run for a in attempts):
        return Refusal("this run already attempted its one login", None)
    for attempt in attempts:
        until = attempt.at + timedelta(seconds=attempt.retry_after)
        if attempt.outcome == "rate_limited" and until > now:
            return Refusal(f"the API answered 429 at {attempt.at:%H:%M:%SZ} with Retry-After "
                           f"{attempt.retry_after:g}s ({where})", until)  # fmt: skip
    recent = [a for a in attempts if a.at > now - smoke.window]
    if len(recent) >= smoke.max_logins:
        return Refusal(
            f"{len(recent)} login(s) by the gate in the last {format_duration(smoke.window)}; "
            f"budget deploy.smoke.max_logins={smoke.max_logins} ({where})",
            recent[-smoke.max_logins].at + smoke.window,
        )
    failed = [a for a in attempts if a.outcome in FAILED and a.at > now - smoke.failure_window]
    if len(failed) >= smoke.max_failures:
        return Refusal(
            f"{len(failed)} failed login(s) by the gate in the last "
            f"{format_duration(smoke.failure_window)}; budget deploy.smoke.max_failures="
            f"{smoke.max_failures}, the LMS locks an IP out after 5 ({where})",
            failed[-smoke.max_failures].at + smoke.failure_window,
        )
    return None


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(self.path.with_name(self.path.name + ".lock"), "a")  # noqa: SIM115
        except OSError as exc:
            problem = f"cannot write the login ledger: {exc.strerror}"
            raise Unreadable(str(self.path), problem) from None
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def attempts(self) -> list[Attempt]:
        """Every attempt, oldest first, with its latest outcome."""
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            problem = f"cannot read the login ledger: {exc.strerror}"
            raise Unreadable(str(self.path), problem) from None
        latest: dict[str, Attempt] = {}
        for number, line in enumerate(lines, 1):
            try:
                raw = json.loads(line)
                attempt = Attempt(
                    id=str(raw["id"]),
                    at=datetime.fromisoformat(raw["at"]),
                    replica=str(raw["replica"]),
                    outcome=str(raw["outcome"]),
                    run=str(raw["run"]),
                    retry_after=float(raw.get("retry_after", 0)),
                )
            except (ValueError, KeyError, TypeError):
                raise Unreadable(str(self.path), f"line {number} is not a ledger entry") from None
            latest[attempt.id] = attempt
        return sorted(latest.values(), key=lambda a: a.at)

    def reserve(
        self, smoke: SmokeGate, replica: str, run: str, now: datetime | None = None
    ) -> Attempt | Refusal:
        """Under the lock: refuse, or write a pending attempt and return it."""
        now = now or datetime.now(UTC)
        with self._locked():
            found = self.attempts()
            refused = refusal(found, now, smoke, run, f"ledger {self.path}")
            if refused is not None:
                return refused
            attempt = Attempt(secrets.token_hex(6), now, replica, "pending", run)
            self._append(attempt)
            if len(found) > KEEP:
                self._rewrite([*found[-KEEP:], attempt])
            return attempt

    def settle(self, attempt: Attempt, outcome: str, retry_after: float = 0.0) -> None:
        settled = Attempt(attempt.id, attempt.at, attempt.replica, outcome, attempt.run,
                          retry_after)  # fmt: skip
        with self._locked():
            self._append(settled)

    def _append(self, attempt: Attempt) -> None:
        with open(self.path, "a") as out:
            out.write(_line(attempt))

    def _rewrite(self, attempts: list[Attempt]) -> None:
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        partial.write_text("".join(map(_line, attempts)))
        partial.replace(self.path)


def _line(attempt: Attempt) -> str:
    return json.dumps({
        "id": attempt.id,
        "at": attempt.at.isoformat(timespec="seconds"),
        "replica": attempt.replica,
        "outcome": attempt.outcome,
        "run": attempt.run,
        "retry_after": attempt.retry_after,
    }) + "\n"  # fmt: skip
