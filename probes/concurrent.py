"""Run independent measurements together under one deadline, so dead targets cost one timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from lms_opscheck.config.durations import format_duration
from lms_opscheck.probes.errors import MeasurementError, NoAnswer


@dataclass(frozen=True)
class Outcome:
    """What one measurement produced: a value, or the reason it could not be taken."""

    value: Any
    error: MeasurementError | None
    elapsed: timedelta


def measure_all(
    jobs: Mapping[str, Callable[[], Any]],
    deadline: timedelta,
    targets: Mapping[str, str] | None = None,
) -> dict[str, Outcome]:
    """Start every job at once and wait at most ``deadline`` for all of them together.

    Jobs run in daemon threads: a job stuck in a library call past the deadline is abandoned
    (reported as NoAnswer) instead of holding the run or the interpreter's exit.
    """
    results: dict[str, Outcome] = {}
    lock = threading.Lock()
    started = time.monotonic()

    def run(key: str, job: Callable[[], Any]) -> None:
        t0 = time.monotonic()
        value: Any = None
        error: MeasurementError | None = None
        try:
            value = job()
        except MeasurementError as exc:
            error = exc
        except Exception as exc:  # an unexpected library error is still "could not measure"
            error = MeasurementError((targets or {}).get(key, key), f"{type(exc).__name__}: {exc}")
        with lock:
            results[key] = Outcome(value, error, timedelta(seconds=time.monotonic() - t0))

    threads = [
        threading.Thread(target=run, args=(key, job), name=f"measure:{key}", daemon=True)
        for key, job in jobs.items()
    ]
    for thread in threads:
        thread.start()
    end = started + deadline.total_seconds()
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    with lock:
        for key in jobs:
            if key not in results:
                target = (targets or {}).get(key, key)
                problem = f"no answer within the run's deadline of {format_duration(deadline)}"
                results[key] = Outcome(None, NoAnswer(target, problem), deadline)
        return dict(results)
