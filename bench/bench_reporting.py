"""What reporting costs a run: session-end outputs and the whole daily run, medians.

The session-end overhead is measured inside pytest by a tiny plugin (``bench/_timing_plugin.py``):
from the last check's end to the end of ``pytest_unconfigure`` — results.json, JUnit, alerts,
textfile, governance, the terminal summary, the secrets scrub. The whole run is wall time.

With ``--baseline-python PY --baseline-tree DIR`` (another checkout, installed in its own venv)
the same two figures are taken for it, alternating run by run, and the ratios printed. Both
trees then run the same environment file: the sandbox's, less the keys the baseline's model does
not know (``bench/_prune_config.py``, run with the baseline's python, prints what it drops).
Usage: python bench/bench_reporting.py [--rounds 9] [--baseline-python PY --baseline-tree DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lms_opscheck.sandbox import stack  # noqa: E402
from tests.support.stacks import sandbox_config  # noqa: E402


def one_run(python: str, tree: Path, env_file: Path, out: Path) -> tuple[float, float, int]:
    timing = out.parent / f"{out.name}.timing.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "bench"),
        "OPSCHECK_TIMING_FILE": str(timing),
    }
    started = time.perf_counter()
    ran = subprocess.run(
        [
            python,
            "-m",
            "pytest",
            "-p",
            "_timing_plugin",
            "-m",
            "daily",
            f"--env={env_file}",
            f"--out={out}",
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if not timing.is_file():
        sys.exit(
            f"{python} in {tree}: the run did not finish (exit {ran.returncode}):\n"
            f"{ran.stdout[-1500:]}{ran.stderr[-1500:]}"
        )
    data = json.loads(timing.read_text())
    return wall, data["end"] - data["last_check"], int(data["checks"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--baseline-python")
    parser.add_argument("--baseline-tree", type=Path)
    args = parser.parse_args()
    trees = {"this tree": (sys.executable, REPO)}
    if args.baseline_python and args.baseline_tree:
        trees["baseline"] = (args.baseline_python, args.baseline_tree)
    state, started = stack.up()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env_file = Path(tmp) / "bench.yaml"
            env_file.write_text(yaml.safe_dump(sandbox_config(state)))
            if "baseline" in trees:
                # Both trees run the same environment: the keys the baseline knows.
                python, tree = trees["baseline"]
                pruned = subprocess.run(
                    [
                        python,
                        str(REPO / "bench" / "_prune_config.py"),
                        str(env_file),
                        str(env_file),
                    ],
                    cwd=tree,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                print(pruned.stdout.strip())
            samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in trees}
            for n in range(args.rounds):
                for name, (python, tree) in trees.items():
                    out = Path(tmp) / f"{name.replace(' ', '_')}-{n}"
                    samples[name].append(one_run(python, tree, env_file, out))
    finally:
        if started:
            stack.down()
    medians = {
        name: (statistics.median(w for w, _, _ in runs), statistics.median(e for _, e, _ in runs))
        for name, runs in samples.items()
    }
    for name, (wall, end) in medians.items():
        checks = max(n for _, _, n in samples[name])
        print(
            f"{name}: daily run {wall:.3f}s ({checks} checks), session-end reporting "
            f"{end * 1000:.1f}ms (median of {args.rounds})"
        )
    if "baseline" in medians:
        (wall, end), (base_wall, base_end) = medians["this tree"], medians["baseline"]
        print(
            f"ratio this/baseline: daily run {wall / base_wall:.2f}x, "
            f"session-end reporting {end / base_end:.2f}x"
        )


if __name__ == "__main__":
    main()
