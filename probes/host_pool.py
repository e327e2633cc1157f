"""Visit many hosts at once, at most ``max_parallel`` at a time, each within its own budget.

A host's work is sequential (one batched shell, then the opt-in write probe) and bounded by the
shell's own timeouts (ssh ConnectTimeout, remote ``timeout``, the local subprocess timeout), so a
dead host holds one pool slot for one connect timeout while the others go on. The pool's threads
are daemons and the wait is bounded by ``budget`` per wave of hosts: a job stuck past it is
abandoned and reported as NoAnswer, never awaited at exit.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from lms_opscheck.config.durations import format_duration
from lms_opscheck.probes.concurrent import Outcome, _as_error
from lms_opscheck.probes.errors import MeasurementError, NoAnswer


def visit_all(
    jobs: Mapping[str, Callable[[], Any]],
    max_parallel: int,
    budget: timedelta,
    targets: Mapping[str, str] | None = None,
) -> dict[str, Outcome]:
    """Run ``jobs`` on at most ``max_parallel`` threads; wait at most ``budget`` per wave."""
    names = targets or {}
    todo: queue.SimpleQueue[tuple[str, Callable[[], Any]]] = queue.SimpleQueue()
    for item in jobs.items():
        todo.put(item)
    results: dict[str, Outcome] = {}
    lock = threading.Lock()

    def record(key: str, value: Any, error: MeasurementError | None, since: float) -> None:
        with lock:
            results[key] = Outcome(value, error, timedelta(seconds=time.monotonic() - since))

    def work() -> None:
        while True:
            try:
                key, job = todo.get_nowait()
            except queue.Empty:
                return
            since = time.monotonic()
            try:
                record(key, job(), None, since)
            except Exception as exc:
                record(key, None, _as_error(exc, names.get(key, key)), since)

    width = max(1, min(max_parallel, len(jobs)))
    waves = math.ceil(len(jobs) / width) if jobs else 0
    limit = budget * waves
    end = time.monotonic() + limit.total_seconds()
    threads = [threading.Thread(target=work, name=f"hosts:{n}", daemon=True) for n in range(width)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    with lock:
        for key in jobs:
            if key not in results:
                problem = (
                    f"no answer within {format_duration(limit)} ({waves} wave(s) of "
                    f"{width} hosts, {format_duration(budget)} each)"
                )
                results[key] = Outcome(None, NoAnswer(names.get(key, key), problem), limit)
        return dict(results)
