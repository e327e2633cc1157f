"""The sandbox's deployed release: its version, its synthetic account and the bearer tokens.

The version comes from ``SANDBOX_API_VERSION`` (``lms-opscheck-sandbox up`` passes
:data:`VERSION`); the ``version`` fault file overrides it while present, so a self-test can
"deploy" a wrong release without restarting anything (``none``: the API reports no version at
all). The synthetic account is the one a post-deploy smoke test logs in with; its password is
generated per sandbox (state.json) and reaches the API through its environment.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The release the sandbox reports by default; environments/sandbox.yaml expects it.
VERSION = "2026.11.3"
VERSION_PATH = "/api/v1/version"
VERSION_HEADER = "X-App-Version"
ME_PATH = "/api/v1/auth/me"
SMOKE_EMAIL = "smoke-test@lms.example"
#: The LMS's access tokens live 15 minutes.
TOKEN_SECONDS = 900.0
#: Fault files (in the faults folder) this module reads.
VERSION_FILE = "version"
NO_VERSION = "none"


def current_version(faults_dir: Path | None, default: str | None) -> str | None:
    """The version the API reports now: the fault file's, else ``default``; None: no version."""
    if faults_dir is not None:
        try:
            forced = (faults_dir / VERSION_FILE).read_text().strip()
        except OSError:  # absent, or replaced while we read it
            forced = ""
        if forced:
            return None if forced == NO_VERSION else forced
    return default or None


@dataclass
class Accounts:
    """One synthetic account and the opaque access tokens handed out to it."""

    email: str | None
    password: str | None
    #: Start of every token (``SANDBOX_API_TOKEN_PREFIX``): self-tests look for it in outputs.
    token_prefix: str = ""
    _tokens: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_environ(cls) -> Accounts:
        return cls(
            email=os.environ.get("SANDBOX_API_SMOKE_EMAIL") or None,
            password=os.environ.get("SANDBOX_API_SMOKE_PASSWORD") or None,
            token_prefix=os.environ.get("SANDBOX_API_TOKEN_PREFIX", ""),
        )

    def login(self, email: object, password: object) -> str | None:
        """A new access token when the credentials are the account's; None otherwise."""
        if self.email is None or self.password is None:
            return None
        if not isinstance(email, str) or not isinstance(password, str):
            return None
        same_email = hmac.compare_digest(email.encode(), self.email.encode())
        same_password = hmac.compare_digest(password.encode(), self.password.encode())
        if not (same_email and same_password):
            return None
        now = time.monotonic()
        self._tokens = {t: until for t, until in self._tokens.items() if until > now}
        token = self.token_prefix + secrets.token_urlsafe(32)
        self._tokens[token] = now + TOKEN_SECONDS
        return token

    def user(self, authorization: str | None) -> str | None:
        """The account's email when ``Authorization: Bearer <token>`` holds a live token."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        until = self._tokens.get(authorization[len("Bearer ") :].strip())
        return self.email if until is not None and until > time.monotonic() else None
