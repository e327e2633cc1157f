"""A big local log read, counted and prefiltered by both cores at once.

Why not the read-ahead (pipeline.py): there one thread reads chunk after chunk, because a chunk
starts where the previous one's last line ended, and that chain set the pace of the whole scan of
a 1 GiB log. Here the file is cut at fixed offsets instead; each piece is read, counted and
prefiltered by whichever worker is free, and the scanner gets, in order, each piece's whole lines
and, between two pieces, the *seam*: the one line an offset cut, stitched from the end of one
piece and the head of the next (a copy of one line). Offsets are multiples of ``sources.ALIGN``,
so every read copies at memory speed.

Memory: ``LIMIT`` buffers of ``chunk`` bytes, whatever the file's size. A line longer than
``SEAM_LIMIT`` (no line break in sight: not a text log) is handed over in parts, as the
sequential reader cuts one at its chunk size.
"""

from __future__ import annotations

import mmap
from collections import deque
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from lms_opscheck.probes.logs.counting import fast_counter
from lms_opscheck.probes.logs.matcher import Matcher, find_all
from lms_opscheck.probes.logs.pipeline import Prepared, examine
from lms_opscheck.probes.logs.sources import ALIGN, Buffers, Chunk, LocalReader

WORKERS = 2
LIMIT = WORKERS + 3  # being read, done and waiting, being placed, and one spare
SEAM_LIMIT = 4 << 20


@dataclass(frozen=True, slots=True)
class _Piece:
    """``data[:got]``, read at a fixed offset. ``lines``: its whole lines, from after its first
    line break (the first piece: from the first line asked for) to after its last one; None
    when it holds no line break. ``last``: the file ended in it, or shrank while we read."""

    data: mmap.mmap | None
    got: int
    lines: Prepared | None
    first: bool
    last: bool


def prepared(
    read: LocalReader, begin: int, stop: int, matcher: Matcher, chunk: int
) -> Generator[Prepared, None, None]:
    """The lines of ``read`` from ``begin`` (a line start) to ``stop``, in order. A piece's
    buffer is read into again once the next piece is asked for: use it before."""
    base = begin - begin % ALIGN
    offsets = iter(range(base, stop, chunk))
    buffers = Buffers(chunk, LIMIT)
    pending: deque[Future[_Piece]] = deque()
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="opscheck-logs") as pool:

        def submit() -> None:
            at = next(offsets, None)
            if at is not None:
                length = min(chunk, stop - at)
                pending.append(pool.submit(_read, read, at, length, begin, stop, buffers, matcher))

        try:
            for _ in range(LIMIT - 1):
                submit()
            seam = b""  # the start of the line the last offset cut
            while pending:
                piece = pending.popleft().result()
                submit()
                data, lines = piece.data, piece.lines
                assert data is not None  # only a closed pool gives none, and it is closed below
                if lines is None and piece.first:
                    pass  # the file shrank to before the first line asked for
                elif lines is None:  # a piece inside one long line
                    seam += data[: piece.got]
                    if len(seam) >= SEAM_LIMIT:
                        yield _whole(seam, matcher)
                        seam = b""
                else:
                    if not piece.first:
                        seam += data[: lines.start]  # up to and with its first line break
                    if seam:
                        yield _whole(seam, matcher)
                    if lines.end > lines.start:
                        yield lines
                    seam = data[lines.end : piece.got]
                buffers.give(data)
                if piece.last:
                    break
            if seam:
                yield _whole(seam, matcher)
        finally:
            buffers.close()  # a worker waiting for a buffer stops
            for job in pending:
                job.cancel()


def _whole(data: bytes, matcher: Matcher) -> Prepared:
    """A seam (one line, or a part of a very long one) as a chunk of its own."""
    if matcher.literals is None:
        hits = matcher.ends(data)
    else:  # a line's worth of bytes: a find per needle costs less than a trip into Hyperscan
        hits = []
        find_all(data, matcher.literals, hits)
        hits.sort()
    return Prepared(data, 0, len(data), data.count(b"\n"), hits)


def _read(
    read: LocalReader,
    at: int,
    length: int,
    begin: int,
    stop: int,
    buffers: Buffers,
    matcher: Matcher,
) -> _Piece:
    first = at <= begin
    buffer = buffers.take()
    if buffer is None:  # the scan stopped
        return _Piece(None, 0, None, first, True)
    got, newlines, ends = read.into(at, buffer, length, matcher.literals)
    last = at + got >= stop or got < length
    if first:
        start = begin - at  # what comes before is before the window (or the previous file)
        if got <= start:
            return _Piece(buffer, got, None, first, True)
        head = buffer[:start].count(b"\n") if newlines is not None else 0
    else:
        start = buffer.find(b"\n", 0, got) + 1
        if not start:
            return _Piece(buffer, got, None, first, last)
        head = 1
    end = got if last else max(buffer.rfind(b"\n", start, got) + 1, start)
    if newlines is not None:
        newlines -= head  # counted from ``at``; after ``end`` there is no line break
    if ends is None:
        lines = examine(Chunk(buffer, start, end, newlines), matcher, fast_counter())
    else:  # found while reading: those in the head belong to the seam, found there again
        assert newlines is not None  # the native reader counts whenever it finds
        hits = [hit for hit in ends if start < hit <= end]
        lines = Prepared(buffer, start, end, newlines, hits)
    return _Piece(buffer, got, lines, first, last)
