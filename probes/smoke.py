"""Smoke flows of a deployed API with a synthetic account: login → token → /auth/me.

The login is a POST (it writes a login event): the caller decides whether it may happen at all
(opt-in) and the ledger (login_ledger.py) whether it may happen now. This module makes exactly
one login request and never retries it; a 429 is reported with its Retry-After. The access
token is registered for redaction the moment it is read and never leaves this module.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx

from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes import http_sync, redaction
from lms_opscheck.probes.errors import NoAnswer, Unreachable


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str  # never of a 200 login answer (it holds the tokens)


@dataclass(frozen=True)
class LoginFlow:
    replica: str
    account: str  # how the account is named in outputs: its credentials key, not its email
    login_url: str
    me_url: str
    login: Answer
    retry_after: str | None
    #: The login answered 200 and its body held data.tokens.access_token.
    token_found: bool
    me: Answer | None  # None: no token, so /auth/me was not asked
    elapsed: timedelta


def _excerpt(response: httpx.Response) -> str:
    text = " ".join(response.text[:400].split())
    return redaction.redact(repr(text[:120] + ("…" if len(text) > 120 else "")))


def _access_token(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    tokens = body.get("data", {}).get("tokens", {}) if isinstance(body, dict) else {}
    token = tokens.get("access_token") if isinstance(tokens, dict) else None
    return token if isinstance(token, str) and token else None


def login_flow(
    replica: str,
    *,
    login_path: str,
    me_path: str,
    email: str,
    password: str,
    account: str,
    timeouts: Timeouts,
    verify: bool | ssl.SSLContext = True,
) -> LoginFlow:
    """One POST login, then (with a token) one GET /auth/me carrying it."""
    login_url, me_url = replica + login_path, replica + me_path
    started = time.perf_counter()
    timeout = httpx.Timeout(
        timeouts.request.total_seconds(), connect=timeouts.connect.total_seconds()
    )
    with httpx.Client(timeout=timeout, verify=verify, follow_redirects=False) as client:
        try:
            response = client.post(login_url, json={"email": email, "password": password})
        except httpx.ConnectTimeout:
            raise Unreachable(login_url, "connect timed out") from None
        except httpx.ConnectError as exc:
            raise Unreachable(login_url, f"cannot connect ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            # The request was sent: the API may have counted it (the caller settles the ledger).
            raise NoAnswer(login_url, f"no answer to the login ({type(exc).__name__})") from None
        token = _access_token(response) if response.status_code == 200 else None
        if token:
            redaction.register([token])
        excerpt = "(body not shown: it holds tokens)" if token else _excerpt(response)
        login = Answer(response.status_code, excerpt)
        retry_after = response.headers.get("retry-after")
        me = None
        if token:
            reply = http_sync.get(_with_bearer(client, token), me_url)
            me = Answer(reply.status, redaction.redact(reply.excerpt()))
    return LoginFlow(
        replica=replica,
        account=account,
        login_url=login_url,
        me_url=me_url,
        login=login,
        retry_after=retry_after,
        token_found=token is not None,
        me=me,
        elapsed=timedelta(seconds=time.perf_counter() - started),
    )


def _with_bearer(client: httpx.Client, token: str) -> httpx.Client:
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def outcome_of(flow: LoginFlow) -> str:
    """The ledger's word for how the login went."""
    status = flow.login.status
    if status == 200:
        return "ok"
    if status == 429:
        return "rate_limited"
    return "server_error" if status >= 500 else "rejected"


def retry_seconds(value: str | None) -> float:
    """Retry-After in seconds (the LMS sends seconds; an HTTP date counts as a minute)."""
    if value is None:
        return 60.0
    try:
        return max(0.0, float(value))
    except ValueError:
        return 60.0
