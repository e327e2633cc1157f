"""Bench the log reader: log analysis and access-log review over a 1 GiB log vs ``grep -c``.

Run: python bench/bench_logs.py [--gib 1.0] [--repeat 5]. Writes a realistic LMS log (plain text
and uvicorn access lines, ~70 requests/s for 24 h, with 401s, 404 scans, 500s and errors) into
a temp dir, deletes it at the end, and prints medians of alternating runs:

- ``LC_ALL=C grep -c`` on the same file: ``ERROR`` (the runbook's own log analysis) and the
  access review's needles as one ``-i -E`` pattern (what grep needs to do the same prefilter);
  and ``wc -l`` then ``grep -c``: what a shell needs for the error ratio LOG-01 judges (the
  analysis counts every line; ``grep -c`` counts only the matching ones);
- the reader in a child process (so its peak RSS is its own): log analysis alone (with and
  without the optional native module, as on a machine that had no C compiler), access review
  alone, both in one pass (what a daily run does), and both with the pure-Python engine.
Times of the reader are measured inside the child (scan only, NumPy's import included: the reader
imports it when a file is big enough to use it); the child's start-up and imports are printed
apart. Targets: within 1.5x grep, peak RSS under 100 MB whatever the size.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lms_opscheck.config.logs import DEFAULT_SCANNER_PATHS
from lms_opscheck.sandbox.logs import request_lines

TOKEN = "@@@@@@@@@@@@@@@@"  # stands for "YYYY-MM-DD HH:MM" in the one-minute template
CHILD = """
import json, resource, sys, time
from datetime import datetime, timedelta
if sys.argv[3] == "no-native":  # as if installed without a C compiler: NumPy counts instead
    sys.modules["lms_opscheck.probes.logs._native"] = None
    sys.argv[3] = "auto"
started = time.perf_counter()
from lms_opscheck.config.logs import LogLocation, LogPolicy
from lms_opscheck.probes.hosts import LocalShell
from lms_opscheck.probes.logs import scan_location
imported = time.perf_counter()
errors, access, engine, directory, now = sys.argv[1:6]
scan = scan_location(LocalShell(), LogLocation(dir=directory), LogPolicy(), [timedelta(hours=24)],
                     errors=errors == "1", access=access == "1", now=datetime.fromisoformat(now),
                     engine=engine)
done = time.perf_counter()
w = scan.windows[0]
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(json.dumps({"import": imported - started, "scan": done - imported, "lines": w.lines,
                  "bytes": w.bytes, "engine": w.engine, "hwm_mb": int(hwm) / 1024,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def minute_template(rng: random.Random, requests: int) -> str:
    """One minute of a busy LMS, with ``TOKEN`` where the date and minute go."""
    lines: list[str] = []
    paths = [
        "/api/v1/courses", "/api/v1/courses/42/lessons", "/api/v1/auth/me", "/metrics",
        "/api/v1/enrollments", "/api/v1/health", "/api/v1/quizzes/7/attempts",
    ]  # fmt: skip
    for i in range(requests):
        second = datetime(2026, 1, 1, 0, 0, 60 * i // requests, (i * 997) % 1000 * 1000)
        client, path, status = f"10.0.{rng.randint(0, 3)}.{rng.randint(1, 254)}", "", 200
        roll = rng.random()
        path = rng.choice(paths)
        if roll < 0.002:
            status, path = 401, "/api/v1/auth/login"
        elif roll < 0.003:
            status, path = 404, rng.choice(["/.env", "/wp-admin/", "/api/v1/nope"])
        elif roll < 0.0035:
            status = 500
        for line in request_lines(second, client, "GET", path, status, rng.uniform(2, 200)):
            lines.append(line.replace("2026-01-01 00:00", TOKEN, 1))
        if roll > 0.9995:
            lines.append(f"{TOKEN}:{second:%S},{i % 1000:03d} ERROR [app.db] query failed for "
                         f"user {rng.randint(1, 9999)}: timeout after 30s")  # fmt: skip
    return "".join(line + "\n" for line in lines)


def make_log(path: Path, gib: float, end: datetime) -> None:
    minutes = 24 * 60 - 5  # the whole file inside the daily window
    template = minute_template(random.Random(7), 4000).encode()
    per_minute = int(gib * (1 << 30) / minutes / (len(template) / 4000))
    template = minute_template(random.Random(7), max(per_minute, 1)).encode()
    start = end - timedelta(minutes=minutes)
    with path.open("wb") as out:
        for m in range(minutes):
            moment = start + timedelta(minutes=m)
            out.write(template.replace(TOKEN.encode(), f"{moment:%Y-%m-%d %H:%M}".encode()))
    os.utime(path, (end.timestamp(), end.timestamp()))


def access_pattern() -> str:
    codes = "(401|403|429|5[0-9][0-9])"
    paths = "|".join(p.replace(".", r"\.") for p in DEFAULT_SCANNER_PATHS)
    return f'" {codes} [A-Z]|{codes} \\([0-9.]+ ?ms\\)|{paths}'


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "LC_ALL": "C"})  # fmt: skip
    return time.perf_counter() - started, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    try:
        run(root, args.gib, args.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, gib: float, repeat: int) -> None:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    log = root / "app.log"
    started = time.perf_counter()
    make_log(log, gib, end)
    size = log.stat().st_size
    print(f"log: {size / (1 << 30):.2f} GiB, {time.perf_counter() - started:.1f} s to write")
    now = (end + timedelta(minutes=1)).isoformat()
    repo = str(Path(__file__).resolve().parents[1])
    variants = {
        "grep -c ERROR": ["grep", "-c", "ERROR", str(log)],
        "grep -c -E 'ERROR|CRITICAL'": ["grep", "-c", "-E", "ERROR|CRITICAL", str(log)],
        "grep -c -i -E <access needles>": ["grep", "-c", "-i", "-E", access_pattern(), str(log)],
        # What a shell needs for the error ratio the analysis reports (errors per line): two reads.
        "wc -l + grep -c -E 'ERROR|CRITICAL'": [
            "sh",
            "-c",
            'wc -l < "$1" && grep -c -E "ERROR|CRITICAL" "$1"',
            "sh",
            str(log),
        ],
    }
    readers = {
        "log analysis": ("1", "0", "auto"),
        "log analysis, no native module": ("1", "0", "no-native"),
        "access review": ("0", "1", "auto"),
        "both, one pass": ("1", "1", "auto"),
        "both, pure-Python engine": ("1", "1", "python"),
    }
    times: dict[str, list[float]] = {name: [] for name in (*variants, *readers)}
    extra: dict[str, dict[str, float]] = {}
    # Page cache: every variant reads from memory. No output is captured: a child inherits its
    # parent's peak RSS (getrusage's ru_maxrss survives fork and exec), so the parent stays small.
    subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)
    for _ in range(repeat):
        for name, command in variants.items():
            elapsed, _out = timed(command)
            times[name].append(elapsed)
        for name, (errors, access, engine) in readers.items():
            if engine == "python" and len(times[name]) >= 1:
                continue  # several times slower: one run says enough
            command = [sys.executable, "-c", CHILD, errors, access, engine, str(root), now]
            done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=repo)
            figures = __import__("json").loads(done.stdout)
            times[name].append(figures["scan"])
            extra[name] = figures
    same_job = {
        "log analysis": statistics.median(times["grep -c -E 'ERROR|CRITICAL'"]),
        "access review": statistics.median(times["grep -c -i -E <access needles>"]),
    }
    simple = statistics.median(times["grep -c ERROR"])
    ratio_peer = statistics.median(times["wc -l + grep -c -E 'ERROR|CRITICAL'"])
    for name, values in times.items():
        med = statistics.median(values)
        line = f"{name:34s} median {med:6.3f} s over {len(values)} run(s)"
        if name in extra:
            f = extra[name]
            grep = same_job.get(name.split(",")[0], max(same_job.values()))
            line += (
                f"\n    x{med / grep:.2f} of grep doing the same prefilter, x{med / simple:.2f} of "
                f"grep -c ERROR, x{med / ratio_peer:.2f} of wc -l + grep; "
                f"peak RSS {f['rss_mb']:.0f} MB (getrusage), VmHWM "
                f"{f['hwm_mb']:.0f} MB; {f['lines']} lines; engine {f['engine']}; "
                f"start-up+imports {f['import']:.2f} s"
            )
        print(line)


if __name__ == "__main__":
    main()
