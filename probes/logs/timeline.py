"""Where the timestamps are in a chunk of log lines: first, last, by binary search, and the
time an untimed line takes (that of the nearest timestamped line before it)."""

from __future__ import annotations

from lms_opscheck.config.logs import JsonKeys
from lms_opscheck.probes.logs import sources
from lms_opscheck.probes.logs.lines import STAMP_LINE, Clock, stamp_of
from lms_opscheck.probes.logs.sources import Data

Stamp = tuple[int, float]  # (offset of the line, epoch seconds)
#: The time of lines known to come before every window (an older file, a skipped head).
BEFORE = float("-inf")


class Timeline:
    def __init__(self, clock: Clock, keys: JsonKeys) -> None:
        self.clock = clock
        self.keys = keys

    def first(self, chunk: Data, start: int, end: int) -> Stamp | None:
        """The first timestamped line starting in ``chunk[start:end]`` (``start``: a line start)."""
        position = start
        while position < end:
            match = STAMP_LINE.search(chunk, position, end)
            if match is None:
                return None
            begin = match.start()
            stop = chunk.find(b"\n", begin, end)
            stop = end if stop < 0 else stop
            t = stamp_of(chunk[begin:stop], self.clock, self.keys)
            if t is not None:
                return begin, t
            position = stop + 1
        return None

    def last(self, chunk: Data, start: int, size: int) -> Stamp | None:
        """The last timestamped line of ``chunk[start:size]`` (``start``: a line start)."""
        end = size - 1 if chunk[size - 1 : size] == b"\n" else size
        while end > start:
            begin = max(chunk.rfind(b"\n", start, end) + 1, start)
            t = stamp_of(chunk[begin:end], self.clock, self.keys)
            if t is not None:
                return begin, t
            end = begin - 1
        return None

    def seek(self, read: sources.Reader, size: int, since: float) -> int:
        """A line start before which every timestamped line is older than ``since``."""
        lo, hi = 0, size
        for _ in range(64):
            if hi - lo <= sources.PROBE:
                break
            mid = (lo + hi) // 2
            block = read(mid, sources.PROBE)
            start = block.find(b"\n") + 1
            found = self.first(block, start, len(block)) if start else None
            if found is None or found[1] >= since:
                hi = mid
            else:
                lo = mid + found[0]
        return lo

    def bisect(self, chunk: Data, lo: int, hi: int, since: float) -> int:
        """First timestamped line at/after ``since`` between stamped lines ``lo`` and ``hi``."""
        while hi - lo > sources.PROBE:
            mid = chunk.find(b"\n", (lo + hi) // 2, hi) + 1
            found = self.first(chunk, mid, hi) if mid else None
            if found is None:
                break  # an untimed stretch: finish linearly
            if found[1] < since:
                lo = found[0]
            else:
                hi = found[0]
        position = lo
        while (found := self.first(chunk, position, hi)) is not None:
            if found[1] >= since:
                return found[0]
            position = chunk.find(b"\n", found[0]) + 1
        return hi

    def placed(
        self, chunk: Data, floor: int, start: int, previous: tuple[int, float | None]
    ) -> float | None:
        """The time of the nearest timestamped line before ``start`` (back to the previous
        candidate, whose own time is known, or to the chunk's first line at ``floor``), else the
        time carried into this chunk."""
        end = start - 1
        while end > floor:
            begin = max(chunk.rfind(b"\n", floor, end) + 1, floor)
            if begin == previous[0]:
                return previous[1]
            t = stamp_of(chunk[begin:end], self.clock, self.keys)
            if t is not None:
                return t
            end = begin - 1
        return previous[1]
