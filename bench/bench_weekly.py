"""Bench the artifact checks at scale: 100,000 drill logs and 100,000 dumps in their folders.

Run: python bench/bench_weekly.py [--count 100000] [--repeat 3] [--baseline COMMIT]
Prints, for this tree (and for COMMIT, extracted with git archive, when given), the median wall
time of alternating runs of

- the weekly review (``pytest -m weekly checks/test_restore_drill.py``: DRL-01..05, DRL-13),
- the daily backup checks (``pytest -m daily checks/test_backups.py``: BKP-01..08),

and the size of each run's junit.xml. Needs the sandbox extra: a private PostgreSQL makes the
one real dump (the newest) that BKP-04 lists; every other file is a few bytes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


@dataclass(frozen=True)
class Tree:
    label: str
    root: Path

    def env(self) -> dict[str, str]:
        # A tree other than the installed one is imported first (PYTHONPATH precedes the
        # editable install's finder), so the same venv runs either version.
        extra = {} if self.root == REPO else {"PYTHONPATH": str(self.root)}
        return {**os.environ, **extra}


def make_folders(root: Path, count: int, dump: Path) -> tuple[Path, Path]:
    """``count`` hourly drill logs and dumps, newest now; the newest dump is a real one."""
    logs, dumps = root / "drill_logs", root / "db"
    logs.mkdir()
    dumps.mkdir()
    now = datetime.now(UTC).replace(microsecond=0)
    for i in range(count):
        moment = now - timedelta(hours=i)
        stamp = f"{moment:%Y%m%d_%H%M%S}"
        (logs / f"restore_drill_{stamp}.log").write_bytes(b"x")
        target = dumps / f"lms_{stamp}.dump"
        if i == 0:
            shutil.copyfile(dump, target)
            (logs / f"restore_drill_{stamp}.log").write_text(_transcript(moment, target.name))
        else:
            target.write_bytes(b"PGDMP")
        os.utime(target, (moment.timestamp(), moment.timestamp()))
    return logs, dumps


def _transcript(moment: datetime, backup: str) -> str:
    from tests.support.transcripts import transcript

    return transcript(moment, ended=moment + timedelta(seconds=40), backup=backup)


def write_env(path: Path, logs: Path, dumps: Path, pg_bin: Path) -> Path:
    config = {
        "name": "bench",
        "artifacts": {
            "backups": {"dir": str(dumps), "pg_restore": str(pg_bin / "pg_restore")},
            "drill_logs": {"dir": str(logs)},
        },
    }
    path.write_text(yaml.safe_dump(config))
    return path


def run(tree: Tree, env_file: Path, marker: str, checks: str, out: Path) -> tuple[float, int]:
    shutil.rmtree(out, ignore_errors=True)
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", f"--rootdir={tree.root}",
        f"--config-file={tree.root / 'pyproject.toml'}", f"--out={out}", "-m", marker,
        f"--env={env_file}", checks,
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, cwd=tree.root, env=tree.env(), capture_output=True, timeout=1800)
    took = time.perf_counter() - started
    junit = out / "junit.xml"
    return took, junit.stat().st_size if junit.exists() else -1


def extract(commit: str, target: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True
    ).stdout
    target.mkdir()
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="a commit to compare with (e.g. the merge base)")
    args = parser.parse_args()
    from lms_opscheck.sandbox.artifacts import pg_dump
    from tests.support.stacks import isolated_stack

    with tempfile.TemporaryDirectory(prefix="bench-weekly-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # the private PostgreSQL runs as nobody
        trees = [Tree("this tree", REPO)]
        if args.baseline:
            base = extract(args.baseline, root / "base")
            trees.insert(0, Tree(f"baseline {args.baseline[:10]}", base))
        with isolated_stack(root / "stack") as state:
            dump = root / "real.dump"
            pg_dump(state.postgres, "lms", dump)
            pg_bin = Path(state.postgres.tool("pg_restore")).parent
        started = time.perf_counter()
        logs, dumps = make_folders(root, args.count, dump)
        print(f"made {args.count:,} drill logs and {args.count:,} dumps in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        env_file = write_env(root / "env.yaml", logs, dumps, pg_bin)
        runs = {
            "weekly review (DRL)": ("weekly", "checks/test_restore_drill.py"),
            "daily backups (BKP)": ("daily", "checks/test_backups.py"),
        }
        for title, (marker, checks) in runs.items():
            times: dict[str, list[float]] = {t.label: [] for t in trees}
            sizes: dict[str, int] = {}
            for _ in range(args.repeat):  # alternate, so that drift hits every tree alike
                for tree in trees:
                    took, size = run(tree, env_file, marker, checks, root / "out")
                    times[tree.label].append(took)
                    sizes[tree.label] = size
            for tree in trees:
                median = statistics.median(times[tree.label])
                print(
                    f"{title}, {args.count:,} files each, {tree.label}: median {median:.2f} s "
                    f"of {args.repeat}; junit.xml {sizes[tree.label] / 1024:.0f} KiB"
                )


if __name__ == "__main__":
    main()
