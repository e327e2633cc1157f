"""`python -m lms_opscheck.sandbox.traffic URL`: the sandbox's users — a steady trickle of GETs.

Production's request series move because people use the LMS; without this the sandbox's
Prometheus would count nothing, and the SLO checks would (rightly) say "no data".
"""

from __future__ import annotations

import argparse
import contextlib
import time

import httpx

PATHS = ("/api/v1/health",) * 9 + ("/api/v1/ready",)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lms_opscheck.sandbox.traffic")
    parser.add_argument("url", help="the API's base URL")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between requests")
    args = parser.parse_args(argv)
    with httpx.Client(timeout=5.0) as client:
        turn = 0
        while True:
            # The API may be down or restarting: users keep trying.
            with contextlib.suppress(httpx.HTTPError):
                client.get(args.url + PATHS[turn % len(PATHS)])
            turn += 1
            time.sleep(args.interval)


if __name__ == "__main__":
    main()
