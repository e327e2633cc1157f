"""The read-ahead of big logs (probes/logs/pipeline.py): failures arrive in order, threads end.

Real files read through the real sources; the size threshold is lowered so that a small file
takes the threaded path.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from lms_opscheck.config.logs import LogLocation, LogPolicy
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.hosts import LocalShell
from lms_opscheck.probes.logs import pipeline, scan_location, sources
from lms_opscheck.probes.logs.matcher import PythonMatcher, needles


def _readers_alive() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("opscheck-logs")]


@pytest.fixture
def threaded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "PARALLEL_FROM", 0)
    monkeypatch.setattr(sources, "LOCAL_CHUNK", 16 << 10)


def test_a_gzip_broken_midway_is_unreadable_and_leaves_no_thread(
    tmp_path: Path, threaded: None
) -> None:
    lines = b"".join(b"2026-11-28 11:%02d:00,000 INFO [app] line %d\n" % (i % 60, i)
                     for i in range(20_000))  # fmt: skip
    packed = bytearray(gzip.compress(lines))
    packed[len(packed) // 2 : len(packed) // 2 + 64] = os.urandom(64)
    log = tmp_path / "app.log.1.gz"
    log.write_bytes(bytes(packed))
    with pytest.raises(Unreadable, match=r"app\.log\.1\.gz on local://.*not a readable gzip"):
        scan_location(LocalShell(), LogLocation(dir=str(tmp_path)), LogPolicy(),
                      [timedelta(days=3650)])  # fmt: skip
    assert _readers_alive() == []


def test_a_reader_stopped_early_ends_its_threads(tmp_path: Path, threaded: None) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"2026-11-28 11:00:00,000 ERROR [app] boom\n" * 50_000)
    read = sources.reader(LocalShell(), sources.list_files(LocalShell(), LogLocation(
        dir=str(tmp_path)))[0])  # fmt: skip
    chunks = sources.plain_chunks(read, 0, log.stat().st_size, sources.LOCAL_CHUNK)
    ready = pipeline.prepared(chunks, PythonMatcher(needles(["lms"], error_levels=["ERROR"])),
                              size=log.stat().st_size)  # fmt: skip
    with contextlib.closing(ready):
        first = next(ready)
        assert first.newlines == first.data[: first.end].count(b"\n") > 0
        assert len(first.hits) == first.newlines  # one ERROR per line
    sources.close(read)
    assert _readers_alive() == []
