"""Run independent measurements together under one deadline, so dead targets cost one timeout.

Blocking jobs (a database session, a Redis ping) each get a daemon thread; asynchronous jobs (the
HTTP fleet: hundreds of replicas) share one event loop in the calling thread, inside whatever
async contexts they need (the shared HTTP client). The deadline counts from the moment the first
job starts, and a job still running at the deadline is abandoned and reported as NoAnswer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from lms_opscheck.config.durations import format_duration
from lms_opscheck.probes.errors import MeasurementError, NoAnswer

#: How long closing the shared clients may take once the deadline has passed.
_CLOSE_GRACE = 1.0


@dataclass(frozen=True)
class Outcome:
    """What one measurement produced: a value, or the reason it could not be taken."""

    value: Any
    error: MeasurementError | None
    elapsed: timedelta


@dataclass(frozen=True)
class AsyncJob:
    """A coroutine to await on the shared event loop (``make`` is called inside the loop)."""

    make: Callable[[], Awaitable[Any]]


Job = Callable[[], Any] | AsyncJob


def measure_all(
    jobs: Mapping[str, Job],
    deadline: timedelta,
    targets: Mapping[str, str] | None = None,
    contexts: Sequence[AbstractAsyncContextManager[Any]] = (),
) -> dict[str, Outcome]:
    """Start every job at once and wait at most ``deadline`` for all of them together.

    Blocking jobs run in daemon threads: one stuck in a library call past the deadline is
    abandoned instead of holding the run or the interpreter's exit. ``contexts`` are entered
    on the event loop before the asynchronous jobs start and exited after they end.
    """
    names = targets or {}
    results: dict[str, Outcome] = {}
    lock = threading.Lock()
    started = time.monotonic()
    end = started + deadline.total_seconds()

    def record(key: str, value: Any, error: MeasurementError | None, since: float) -> None:
        with lock:
            results[key] = Outcome(value, error, timedelta(seconds=time.monotonic() - since))

    def run(key: str, job: Callable[[], Any]) -> None:
        since = time.monotonic()
        try:
            record(key, job(), None, since)
        except Exception as exc:
            record(key, None, _as_error(exc, names.get(key, key)), since)

    threads = [
        threading.Thread(target=run, args=(key, job), name=f"measure:{key}", daemon=True)
        for key, job in jobs.items()
        if not isinstance(job, AsyncJob)
    ]
    coroutines = {key: job for key, job in jobs.items() if isinstance(job, AsyncJob)}
    if coroutines:
        # Its own thread: the caller may itself run an event loop, and a loop stuck past the
        # deadline (a name lookup that never returns) is abandoned like any other job.
        def run_loop() -> None:
            since = time.monotonic()
            try:
                asyncio.run(_run_async(coroutines, end, contexts, record, names))
            except Exception as exc:  # the loop itself failed: every job it held says why
                for key in coroutines:
                    if key not in results:
                        record(key, None, _as_error(exc, names.get(key, key)), since)

        threads.append(threading.Thread(target=run_loop, name="measure:async", daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    with lock:
        for key in jobs:
            if key not in results:
                problem = f"no answer within the run's deadline of {format_duration(deadline)}"
                results[key] = Outcome(None, NoAnswer(names.get(key, key), problem), deadline)
        return dict(results)


async def _run_async(
    jobs: Mapping[str, AsyncJob],
    end: float,
    contexts: Sequence[AbstractAsyncContextManager[Any]],
    record: Callable[[str, Any, MeasurementError | None, float], None],
    names: Mapping[str, str],
) -> None:
    async def one(key: str, job: AsyncJob) -> None:
        since = time.monotonic()
        try:
            record(key, await job.make(), None, since)
        except Exception as exc:
            record(key, None, _as_error(exc, names.get(key, key)), since)

    # Name lookups run in the default executor; its threads must not hold the interpreter's exit.
    asyncio.get_running_loop().set_default_executor(_DaemonExecutor())
    stack = contextlib.AsyncExitStack()
    try:
        for context in contexts:
            await stack.enter_async_context(context)
        tasks = [asyncio.create_task(one(key, job)) for key, job in jobs.items()]
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, end - time.monotonic()))
        for task in pending:  # past the deadline: reported as NoAnswer by the caller
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=_CLOSE_GRACE)
    finally:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CLOSE_GRACE):
                await stack.aclose()


class _DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """One daemon thread per call: a lookup stuck in the resolver is abandoned, not awaited.

    (asyncio accepts only a ThreadPoolExecutor as default executor; its pool is never used.)
    """

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        threading.Thread(target=call, name="measure:lookup", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass  # nothing to wait for: a stuck lookup is abandoned with its daemon thread


def _as_error(exc: Exception, target: str) -> MeasurementError:
    if isinstance(exc, MeasurementError):
        return exc
    # An unexpected library error is still "could not measure", never a crash of the run.
    return MeasurementError(target, f"{type(exc).__name__}: {exc}")
