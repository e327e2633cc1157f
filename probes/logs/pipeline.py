"""The per-chunk work that needs no order — counting line breaks and finding needles — done ahead
of the scanner, on both cores, while it places the previous chunk's candidate lines in windows.

This read-ahead serves big files that can only be read in order: gzipped rotations (inflated as
they come) and remote logs (``dd`` over ssh). A big local plain file is read at fixed offsets by
parallel.py instead. Reading, counting (counting.py: native, else NumPy) and Hyperscan's scan
all release the GIL. Small logs (the usual case, and every sandbox run) take the plain path: no
thread.

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

from lms_opscheck.probes.logs.counting import Counter, Scanned, count_lines, fast_counter
from lms_opscheck.probes.logs.matcher import Matcher
from lms_opscheck.probes.logs.sources import Chunk, Data

#: A file with at least this much to read goes through the threads (here or parallel.py).
PARALLEL_FROM = 64 << 20
AHEAD = 2


@dataclass(frozen=True, slots=True)
class Prepared:
    """A chunk (lines are ``data[start:end]``), their line breaks and the end offsets (in
    ``data``) of every needle found in them, ascending."""

    data: Data
    start: int
    end: int
    newlines: int
    hits: list[int]


def threaded(size: int) -> bool:
    """Whether ``size`` bytes to read are worth the threads."""
    return size >= PARALLEL_FROM and (os.cpu_count() or 1) >= 2


def prepared(
    chunks: Iterator[Chunk], matcher: Matcher, *, size: int
) -> Generator[Prepared, None, None]:
    """``chunks`` with their line counts and needle hits, in order; ``size``: bytes to read.

    Close the iterator (``contextlib.closing``) before closing what ``chunks`` reads from: a big
    file is read on a thread of its own, which closing stops and waits for.
    """
    if not threaded(size):
        for chunk in chunks:
            yield examine(chunk, matcher, count_lines)
        return
    yield from _ahead(chunks, matcher)


def _ahead(chunks: Iterator[Chunk], matcher: Matcher) -> Generator[Prepared, None, None]:
    count = fast_counter()
    ready: queue.Queue[_Item] = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="opscheck-logs") as pool:
        work = functools.partial(examine, matcher=matcher, count=count)
        reading = pool.submit(_read_ahead, chunks, lambda c: pool.submit(work, c), ready, stop)
        try:
            while (item := ready.get()) is not None:
                if isinstance(item, BaseException):
                    raise item  # the read failed here (a truncated gzip...): after what came before
                yield item.result()
        finally:
            stop.set()
            while not reading.done():  # unblock a reader waiting for room, then let it end
                with contextlib.suppress(queue.Empty):
                    ready.get(timeout=0.05)


_Item = Future[Prepared] | BaseException | None


def _read_ahead(
    chunks: Iterator[Chunk],
    submit: Callable[[Chunk], Future[Prepared]],
    ready: queue.Queue[_Item],
    stop: threading.Event,
) -> None:
    item: _Item
    try:
        for chunk in chunks:
            if stop.is_set():
                return
            _put(ready, submit(chunk), stop)
        item = None
    except BaseException as failure:  # handed to the scanner and raised there, in order
        item = failure
    _put(ready, item, stop)


def _put(ready: queue.Queue[_Item], item: _Item, stop: threading.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(queue.Full):
            ready.put(item, timeout=0.05)
            return


def examine(chunk: Chunk, matcher: Matcher, count: Counter) -> Prepared:
    """A chunk's line breaks (unless counted already) and needle hits."""
    data, start, end, newlines = chunk
    if not start and end == len(data) and isinstance(data, bytes):
        lines: Scanned = data  # the whole of a fresh read: no view needed
    else:
        lines = memoryview(data)[start:end]
    if newlines is None:
        newlines = count(lines)
    hits = matcher.ends(lines)
    if start:
        hits = [start + hit for hit in hits]
    return Prepared(data, start, end, newlines, hits)
