"""Bench configuration loading: the largest legitimate environment and the alias-bomb corpus.

Run: python bench/bench_config.py [--repeat 7]. Prints medians of alternating runs, each in a
fresh process: wall time of one load_environment (after one untimed warm-up load), the peak of
Python allocations during it (tracemalloc, a separate load) and the process's peak RSS. The
hostile corpus is every alias-bomb, recursion, deep-nesting and size file of the fuzz corpus;
its figures are per file (the slowest and the largest).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lms_opscheck.config import ConfigError, load_environment  # noqa: E402
from tests.support import fuzz_envs  # noqa: E402

HOSTILE = ("alias-bomb", "recursion", "deep", "size")


def largest_environment() -> dict[str, Any]:
    """prod.example grown to 200 replicas, 50 hosts, 100 waivers and 100 attestations."""
    env = fuzz_envs.base_data("prod")
    env["targets"]["api"]["replicas"] = [f"https://lms-api-{n}.internal:8000" for n in range(200)]
    env["hosts"] = env.get("hosts", {}) | {  # the example's own hosts stay: artifacts name them
        f"db-{n}": {"uri": f"ssh://ops-verify@db-{n}.internal:22", "identity_file": f"/k/{n}"}
        for n in range(50)
    }
    waiver, attestation = env["waivers"][0], env["attestations"][0]
    env["waivers"] = [{**waiver, "control": f"BKP-{n:03d}"} for n in range(100)]
    env["attestations"] = [{**attestation, "id": f"manual-item-{n}"} for n in range(100)]
    return env


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # written as a person would: every value spelled out


def measure(paths: list[Path]) -> dict[str, Any]:
    """In a fresh process: per file, seconds of one load and its traced peak; the worst of each."""
    seconds: dict[str, float] = {}
    traced: dict[str, float] = {}
    for path in paths:
        _load(path)  # warm-up: pydantic's validators, libyaml, the file cache
        start = time.perf_counter()
        _load(path)
        seconds[path.name] = time.perf_counter() - start
        tracemalloc.start()
        _load(path)
        traced[path.name] = tracemalloc.get_traced_memory()[1] / (1 << 20)
        tracemalloc.stop()
    slowest, largest = max(seconds, key=seconds.__getitem__), max(traced, key=traced.__getitem__)
    return {
        "seconds": seconds[slowest],
        "slowest": slowest,
        "traced_mib": traced[largest],
        "largest": largest,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _load(path: Path) -> None:
    with contextlib.suppress(ConfigError):  # the hostile files are refused, as they must be
        load_environment(str(path), environ=fuzz_envs.ENVIRON)


def reference(path: Path) -> dict[str, float]:
    """Plain PyYAML on the same file: the parse alone, without bounds or validation."""
    text = path.read_text()
    figures = {}
    for name, loader in (
        ("pyyaml_pure_s", yaml.SafeLoader),
        ("pyyaml_libyaml_s", yaml.CSafeLoader),
    ):
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            yaml.load(text, Loader=loader)
            timings.append(time.perf_counter() - start)
        figures[name] = statistics.median(timings)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--measure", nargs="*", help=argparse.SUPPRESS)  # the child's side
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure([Path(p) for p in args.measure])))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        big = root / "largest.yaml"
        big.write_text(yaml.dump(largest_environment(), Dumper=_NoAliases, sort_keys=False))
        load_environment(str(big), environ=fuzz_envs.ENVIRON)  # legitimate: must load
        hostile = [case for case in fuzz_envs.corpus() if case.family in HOSTILE]
        fuzz_envs.write(hostile, root / "hostile")
        groups = {"largest": [big], "hostile": [root / "hostile" / c.name for c in hostile]}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in groups}
        for _ in range(args.repeat):
            for name, paths in groups.items():  # alternate, so drift hits both alike
                child = [sys.executable, __file__, "--measure", *map(str, paths)]
                output = subprocess.run(child, capture_output=True, text=True, check=True).stdout
                runs[name].append(json.loads(output))
        ref = reference(big)
        size_kib = big.stat().st_size / 1024
    for name, label in (
        ("largest", f"largest legitimate environment ({size_kib:.0f} KiB)"),
        ("hostile", f"hostile corpus, worst of {len(groups['hostile'])} files"),
    ):
        median = {
            key: statistics.median(run[key] for run in runs[name])
            for key in ("seconds", "traced_mib", "rss_mib")
        }
        which = ""
        if name == "hostile":
            which = f" (slowest {runs[name][0]['slowest']}, largest {runs[name][0]['largest']})"
        print(
            f"{label}: load {median['seconds'] * 1000:.1f} ms, traced peak "
            f"{median['traced_mib']:.1f} MiB, process peak RSS {median['rss_mib']:.0f} MiB{which}"
        )
    print(
        f"reference, parse only of the largest file: PyYAML pure-Python SafeLoader "
        f"{ref['pyyaml_pure_s'] * 1000:.1f} ms, CSafeLoader {ref['pyyaml_libyaml_s'] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
