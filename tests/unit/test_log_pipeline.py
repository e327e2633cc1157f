"""The threaded readers of big logs (probes/logs/pipeline.py, parallel.py): same findings as the
serial reader, failures arrive in order, threads end.

Real files read through the real sources; the size threshold is lowered so that a small file
takes the threaded path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lms_opscheck.config.logs import LogLocation, LogPolicy
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.hosts import LocalShell
from lms_opscheck.probes.logs import counting, parallel, pipeline, scan_location, sources
from lms_opscheck.probes.logs.matcher import Matcher, PythonMatcher, hyperscan, matcher, needles
from lms_opscheck.sandbox.logs import lms_line


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


# -- the parallel reader of big local logs (probes/logs/parallel.py) ---------------------------

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _mixed_log(path: Path, *, trailing_newline: bool = True) -> None:
    """Lines of every length around the 4 KiB pieces the test reads: short ones, CRLF ones, a
    line longer than several pieces with needles inside, error lines everywhere."""
    lines: list[str] = []
    for i in range(3000):
        moment = NOW - timedelta(hours=30) + timedelta(seconds=37 * i)
        if i % 97 == 0:
            lines.append(lms_line(moment, "ERROR", "app.db", f"query failed for user {i}"))
        elif i % 331 == 0:
            lines.append(lms_line(moment, "INFO", "app.dump", "x" * 9000 + " ERROR in a dump " +
                                  "y" * 12000 + "CRITICAL"))  # fmt: skip
        elif i % 53 == 0:
            lines.append(lms_line(moment, "CRITICAL", "app.jobs", f"worker {i} lost") + "\r")
        else:
            lines.append(
                lms_line(moment, "INFO", "app.request", "GET /api/v1/health -> 200 (2 ms)")
            )
    text = "\n".join(lines) + ("\n" if trailing_newline else "")
    path.write_text(text)
    os.utime(path, (NOW.timestamp(), NOW.timestamp()))


def _windows(directory: Path, engine: str = "auto") -> list[object]:
    found = scan_location(LocalShell(), LogLocation(dir=str(directory)), LogPolicy(),
                          [timedelta(hours=24), timedelta(hours=6)], access=False, now=NOW,
                          engine=engine)  # type: ignore[arg-type]  # fmt: skip
    return [dataclasses.replace(w, engine="") for w in found.windows]


@pytest.mark.parametrize("chunk", [4 << 10, 7 << 10])
@pytest.mark.parametrize("trailing_newline", [True, False], ids=["newline", "no-newline"])
@pytest.mark.parametrize("built", [True, False], ids=["native", "no-native"])
def test_the_parallel_reader_measures_what_the_serial_one_does(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
    trailing_newline: bool,
    built: bool,
) -> None:
    """Fixed offsets cut lines anywhere (a line longer than several pieces included): the seams
    stitch them back, and counts, errors and signatures equal the plain Python engine's serial
    read of the whole file in one chunk (the reference: nothing cut, nothing native). With the
    native module, and as installed without it (NumPy counts, Hyperscan finds)."""
    _mixed_log(tmp_path / "app.log", trailing_newline=trailing_newline)
    monkeypatch.setattr(sources, "LOCAL_CHUNK", 1 << 20)
    reference = _windows(tmp_path, engine="python")
    if not built:
        for module in (counting, sources):
            monkeypatch.setattr(module, "native", None)
    elif counting.native is None:
        pytest.skip("built without the native module")
    monkeypatch.setattr(sources, "LOCAL_CHUNK", chunk)
    monkeypatch.setattr(pipeline, "PARALLEL_FROM", 0)
    assert _windows(tmp_path) == reference
    assert _readers_alive() == []
    day = reference[0]
    assert day.lines > 2000 and day.errors is not None and day.errors.errors > 40  # type: ignore[attr-defined]


def test_a_log_cut_short_while_read_in_parallel_yields_what_is_left(tmp_path: Path) -> None:
    """Truncated under the reader (copytruncate rotation): what is still there is read, the
    reading stops where the file now ends, and no thread is left behind."""
    log = tmp_path / "app.log"
    log.write_bytes(b"2026-11-28 11:00:00,000 ERROR [app] boom\n" * 10_000)
    listed = log.stat().st_size
    os.truncate(log, listed // 3)
    read = sources.LocalReader(str(log), "app.log on local")
    newlines, hits, seen = 0, 0, b""
    try:
        for piece in parallel.prepared(read, 0, listed, _matcher(), 16 << 10):
            newlines, hits = newlines + piece.newlines, hits + len(piece.hits)
            seen += piece.data[piece.start : piece.end]  # valid until the next piece is asked for
    finally:
        read.close()
    left = log.read_bytes()
    assert seen == left
    assert newlines == left.count(b"\n") == (listed // 3) // 41
    assert hits == left.count(b"ERROR")
    assert _readers_alive() == []


def test_a_parallel_read_stopped_early_ends_its_threads(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"2026-11-28 11:00:00,000 ERROR [app] boom\n" * 50_000)
    read = sources.LocalReader(str(log), "app.log on local")
    ready = parallel.prepared(read, 0, log.stat().st_size, _matcher(), 16 << 10)
    with contextlib.closing(ready):
        first = next(ready)
        assert first.newlines == first.data[first.start : first.end].count(b"\n") > 0
    read.close()
    assert _readers_alive() == []


def test_a_read_failing_in_parallel_is_unreadable_in_order(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_bytes(b"2026-11-28 11:00:00,000 INFO [app] fine\n" * 5_000)
    read = sources.LocalReader(str(log), "app.log on local")
    read.close()  # every read now fails (EBADF), as an I/O error would
    with pytest.raises(Unreadable, match=r"app\.log on local: cannot read"):
        list(parallel.prepared(read, 0, log.stat().st_size, _matcher(), 16 << 10))
    assert _readers_alive() == []


def _matcher() -> Matcher:
    return matcher(needles(["lms"], error_levels=["ERROR"]))


def test_the_engine_named_is_the_one_that_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big file whose plain needles the native reader found says ``native``; with the access
    review's regex needles the same file is searched by Hyperscan and says so."""
    if counting.native is None:
        pytest.skip("built without the native module")
    _mixed_log(tmp_path / "app.log")
    monkeypatch.setattr(pipeline, "PARALLEL_FROM", 0)
    monkeypatch.setattr(sources, "LOCAL_CHUNK", 16 << 10)

    def engine(access: bool) -> str:
        found = scan_location(LocalShell(), LogLocation(dir=str(tmp_path)), LogPolicy(),
                              [timedelta(hours=24)], access=access, now=NOW)  # fmt: skip
        return found.windows[0].engine

    assert engine(access=False) == "native"
    assert engine(access=True) == ("hyperscan" if hyperscan is not None else "python")
