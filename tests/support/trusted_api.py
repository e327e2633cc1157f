"""The sandbox API behind Starlette's TrustedHostMiddleware, as the LMS runs in production.

The LMS answers ``400 Invalid host header`` to a Host not in TRUSTED_HOSTS; optionally over TLS
with a certificate for that name only. ``python -m tests.support.trusted_api PORT HOST [PEM]``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lms_opscheck.sandbox.processes import free_port, port_accepts, spawn, stop, wait_until

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def trusted_api(root: Path, allowed_host: str, pem: Path | None = None) -> Iterator[int]:
    """The API on a free port, refusing other Host headers; stopped at the end."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.support.trusted_api", str(port), allowed_host]
    argv += [str(pem)] if pem else []
    log = root / "trusted_api.log"
    pid = spawn(argv, log, cwd=REPO)
    try:
        wait_until(lambda: port_accepts(port), 20, "trusted-host API", log)
        yield port
    finally:
        stop(pid)


def main(port: int, allowed_host: str, pem: str | None) -> None:
    import uvicorn
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from lms_opscheck.sandbox.api import ApiSettings, create_app

    app = TrustedHostMiddleware(create_app(ApiSettings(None, None)), allowed_hosts=[allowed_host])
    tls = {"ssl_certfile": pem, "ssl_keyfile": pem} if pem else {}
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, **tls)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
