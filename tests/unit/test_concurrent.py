"""Measurements taken together under one deadline: a hung job costs the deadline, once."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

from lms_opscheck.config.durations import format_duration, parse_duration
from lms_opscheck.probes.concurrent import AsyncJob, measure_all
from lms_opscheck.probes.errors import NoAnswer, Unreachable


def test_hung_jobs_are_abandoned_at_the_deadline_as_no_answer() -> None:
    never = threading.Event()
    jobs = {"a": never.wait, "b": never.wait, "c": lambda: 42}
    started = time.monotonic()
    outcomes = measure_all(jobs, timedelta(milliseconds=300), {"a": "db-1", "b": "db-2"})
    assert time.monotonic() - started < 2  # one deadline, not one per job
    assert outcomes["c"].value == 42 and outcomes["c"].error is None
    assert isinstance(outcomes["a"].error, NoAnswer)
    assert str(outcomes["a"].error) == "db-1: no answer within the run's deadline of 300ms"


def test_errors_keep_their_kind_and_unexpected_ones_become_measurement_errors() -> None:
    def refuse() -> None:
        raise Unreachable("redis://r:6379/0", "connection refused")

    def explode() -> None:
        raise KeyError("boom")

    outcomes = measure_all({"r": refuse, "x": explode}, timedelta(seconds=1))
    assert isinstance(outcomes["r"].error, Unreachable)
    assert "KeyError" in str(outcomes["x"].error)


def test_durations_parse_and_render_like_an_operator_writes_them() -> None:
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("800ms") == timedelta(milliseconds=800)
    assert parse_duration(90) == timedelta(seconds=90)
    assert format_duration(timedelta(hours=31, minutes=12)) == "1d7h12m"
    assert format_duration(timedelta(milliseconds=850)) == "850ms"
    assert format_duration(timedelta(seconds=2.5)) == "2.5s"


def test_async_jobs_share_the_deadline_with_blocking_ones() -> None:
    never = threading.Event()

    async def hang() -> None:
        await asyncio.sleep(30)

    async def answer() -> int:
        return 7

    jobs = {"slow": AsyncJob(hang), "fast": AsyncJob(answer), "blocked": never.wait}
    started = time.monotonic()
    outcomes = measure_all(jobs, timedelta(milliseconds=300), {"slow": "https://api-1"})
    assert time.monotonic() - started < 2
    assert outcomes["fast"].value == 7
    assert str(outcomes["slow"].error) == (
        "https://api-1: no answer within the run's deadline of 300ms"
    )
    assert isinstance(outcomes["blocked"].error, NoAnswer)


def test_a_failing_async_context_is_every_async_job_s_error_not_a_silent_timeout() -> None:
    class Broken:
        async def __aenter__(self) -> None:
            raise RuntimeError("no client")

        async def __aexit__(self, *exc: object) -> None:
            return None

    async def answer() -> int:
        return 7

    outcomes = measure_all({"a": AsyncJob(answer)}, timedelta(seconds=2), contexts=[Broken()])
    assert str(outcomes["a"].error) == "a: RuntimeError: no client"
