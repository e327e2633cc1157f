"""pytest plugin for bench/bench_reporting.py: when the last check ended, when the run ended."""

from __future__ import annotations

import json
import os
import time

import pytest

_marks: dict[str, float] = {"checks": 0}


def pytest_runtest_logfinish() -> None:
    _marks["last_check"] = time.perf_counter()
    _marks["checks"] += 1


@pytest.hookimpl(trylast=True)
def pytest_unconfigure() -> None:
    _marks["end"] = time.perf_counter()
    path = os.environ.get("OPSCHECK_TIMING_FILE")
    if path and "last_check" in _marks:
        with open(path, "w") as handle:
            json.dump(_marks, handle)
