"""Bench the compliance report: 12 weeks of daily run folders (40 checks each), HTML + Markdown.

Run: python bench/bench_compliance.py [--weeks 12] [--checks 40] [--repeat 5]. Prints medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lms_opscheck.reports import compliance
from tests.support.sample_runs import GOVERNANCE, NOW, check, write_run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--checks", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        days = args.weeks * 7
        for day in range(days, -1, -1):
            checks = [
                check(f"{('HLT', 'BKP', 'DRL', 'GOV')[n % 4]}-{n:02d}", "passed")
                for n in range(args.checks)
            ]
            newest = write_run(root, f"d{day:03d}", NOW - timedelta(days=day), checks, GOVERNANCE)
        timings = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            compliance.write_report([newest], root / "report")
            timings.append(time.perf_counter() - start)
        size = (root / "report" / "compliance.html").stat().st_size
    print(
        f"report from {days + 1} run folders x {args.checks} checks: "
        f"median {statistics.median(timings):.3f}s (html {size // 1024} KiB)"
    )


if __name__ == "__main__":
    main()
