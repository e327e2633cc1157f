"""Bench the TLS measurement: one endpoint, N endpoints together under one deadline, a hung one.

Run: python bench/bench_security.py [--endpoints 8] [--repeat 7]. Prints medians. Starts real
TLS servers on 127.0.0.1 (certificates made by trustme) and a black-hole port; all stopped at
the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trustme

from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes.concurrent import measure_all
from lms_opscheck.probes.tls import handshake
from tests.support.stacks import black_hole
from tests.support.tls_server import leaf, serving


def median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoints", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    timeouts = Timeouts(connect=timedelta(seconds=2), request=timedelta(seconds=2))
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        ca = trustme.CA()
        ca_file = Path(tmp) / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        urls = [stack.enter_context(serving(leaf(ca, Path(tmp)))) for _ in range(args.endpoints)]
        one = median(lambda: handshake(urls[0], None, ca_file, timeouts), args.repeat)
        print(f"one endpoint (4 handshakes): median {one * 1000:.1f} ms")

        def sequential() -> None:
            for url in urls:
                handshake(url, None, ca_file, timeouts)

        def together() -> None:
            jobs = {url: (lambda u=url: handshake(u, None, ca_file, timeouts)) for url in urls}
            outcomes = measure_all(jobs, timedelta(seconds=6))
            assert all(o.error is None for o in outcomes.values())

        times: dict[str, list[float]] = {"sequential": [], "together": []}
        for _ in range(args.repeat):  # alternating, so both see the same machine load
            for label, fn in (("sequential", sequential), ("together", together)):
                started = time.perf_counter()
                fn()
                times[label].append(time.perf_counter() - started)
        for label, taken in times.items():
            ms = statistics.median(taken) * 1000
            print(f"{args.endpoints} endpoints {label}: median {ms:.1f} ms")
        port = stack.enter_context(black_hole())
        hung = f"https://127.0.0.1:{port}"
        jobs = {u: (lambda u=u: handshake(u, None, ca_file, timeouts)) for u in [*urls, hung]}
        cost = median(lambda: measure_all(jobs, timedelta(seconds=6)), 3)
        print(
            f"{args.endpoints} endpoints + 1 hung (request timeout 2s, deadline 6s): "
            f"median {cost:.2f} s"
        )


if __name__ == "__main__":
    main()
