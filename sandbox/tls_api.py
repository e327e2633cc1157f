"""The reference API served over HTTPS (uvicorn's TLS), as the LMS is behind its TLS proxy."""

from __future__ import annotations

import argparse

import uvicorn

from lms_opscheck.sandbox.api import ApiSettings, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lms_opscheck.sandbox.tls_api")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--certfile", required=True, help="PEM: leaf certificate and chain")
    parser.add_argument("--keyfile", required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        create_app(ApiSettings.from_environ()),
        host=args.host,
        port=args.port,
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
