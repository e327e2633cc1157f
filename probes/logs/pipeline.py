"""The per-chunk work that needs no order — counting line breaks and finding needles — done ahead
of the scanner, on both cores, while it places the previous chunk's candidate lines in windows.

Why threads help here: Hyperscan's scan and NumPy's byte comparison release the GIL, and so does
``os.pread``; on a big log those three are most of the time (bench/bench_logs.py, 1 GiB log
analysis on 2 cores: 0.57 s before, 0.47 s with the read-ahead, NumPy's import included).
Small logs (the usual case, and every sandbox run) take the plain path: no thread, no NumPy
import (~0.07 s).

Threads: one reads (``chunks`` is a generator: one reader), two count and prefilter. Memory: at
most ``AHEAD`` chunks wait besides the one being placed and the one being read.
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from lms_opscheck.probes.logs.matcher import Matcher
from lms_opscheck.probes.logs.sources import Chunk

#: A file with at least this much to read goes through the threads (and NumPy, if installed).
PARALLEL_FROM = 64 << 20
AHEAD = 2
_SLICE = 1 << 20  # NumPy compares a slice at a time: a 1 MiB temporary instead of a chunk's size
Counter = Callable[[bytes], int]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A chunk (lines are ``data[:end]``), its line breaks in the whole of ``data`` and the end
    offsets of every needle found in it, ascending."""

    data: bytes
    end: int
    newlines: int
    hits: list[int]


def count_lines(data: bytes) -> int:
    """Line breaks in ``data``."""
    # bytes.replace of one byte runs memchr: 3x faster than bytes.count (bench/bench_logs.py).
    return len(data) - len(data.replace(b"\n", b""))


def prepared(
    chunks: Iterator[Chunk], matcher: Matcher, *, size: int
) -> Generator[Prepared, None, None]:
    """``chunks`` with their line counts and needle hits, in order; ``size``: bytes to read.

    Close the iterator (``contextlib.closing``) before closing what ``chunks`` reads from: a big
    file is read on a thread of its own, which closing stops and waits for.
    """
    if size < PARALLEL_FROM or (os.cpu_count() or 1) < 2:
        for data, end in chunks:
            yield Prepared(data, end, count_lines(data), matcher.ends(data))
        return
    count = _fast_counter()
    ready: queue.Queue[_Item] = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="opscheck-logs") as pool:
        reading = pool.submit(_read_ahead, chunks, lambda d: pool.submit(_work, d, matcher, count),
                              ready, stop)  # fmt: skip
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item  # the read failed here (a truncated gzip...): after what came before
                data, end, future = item
                newlines, hits = future.result()
                yield Prepared(data, end, newlines, hits)
        finally:
            stop.set()
            while not reading.done():  # unblock a reader waiting for room, then let it end
                with contextlib.suppress(queue.Empty):
                    ready.get(timeout=0.05)


_Item = tuple[bytes, int, "Future[tuple[int, list[int]]]"] | BaseException | None


def _read_ahead(
    chunks: Iterator[Chunk],
    submit: Callable[[bytes], Future[tuple[int, list[int]]]],
    ready: queue.Queue[_Item],
    stop: threading.Event,
) -> None:
    item: _Item
    try:
        for data, end in chunks:
            if stop.is_set():
                return
            _put(ready, (data, end, submit(data)), stop)
        item = None
    except BaseException as failure:  # handed to the scanner and raised there, in order
        item = failure
    _put(ready, item, stop)


def _put(ready: queue.Queue[_Item], item: _Item, stop: threading.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(queue.Full):
            ready.put(item, timeout=0.05)
            return


def _work(data: bytes, matcher: Matcher, count: Counter) -> tuple[int, list[int]]:
    return count(data), matcher.ends(data)


@functools.cache
def _fast_counter() -> Counter:
    """NumPy's count (outside the GIL, 2.5x faster on log text) when installed, else ours."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - optional accelerator
        return count_lines

    def count(data: bytes) -> int:
        view = numpy.frombuffer(data, numpy.uint8)
        return sum(
            int(numpy.count_nonzero(view[at : at + _SLICE] == 10))
            for at in range(0, len(data), _SLICE)
        )

    return count
