"""Read a log location once, over the longest window asked for, and measure every window.

Windowing. Files whose mtime is older than the window's start hold no line of it and are not
opened. A plain file is entered by binary search on its timestamps; within a chunk the window
starts at the first timestamped line at or after ``since``. Lines without a timestamp (uvicorn's,
traceback lines) take the time of the nearest timestamped line before them in the same stream of
files (rotations are read oldest first, so a file's head takes the previous file's last time):
the LMS writes its ``app.request`` line just before uvicorn's access line of the same request.
Lines before any timestamp (the head of the oldest file, a log with no timestamps at all) cannot
be placed: they are counted as ``unplaced_lines`` and in no window.

Hot loop. Per chunk: newlines are counted and the prefilter finds candidate lines (both ahead of
the scanner, on both cores for a big file: parallel.py for a local one, pipeline.py for a
gzipped or remote one), and only the candidates are parsed.
Memory: a few chunks plus bounded tallies, whatever the size of the log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from lms_opscheck.config.logs import LogLocation, LogPolicy
from lms_opscheck.probes.hosts import Shell
from lms_opscheck.probes.logs import parallel, pipeline, sources
from lms_opscheck.probes.logs.analysis import AccessTally, ErrorTally
from lms_opscheck.probes.logs.counting import count_lines
from lms_opscheck.probes.logs.lines import Clock, parse, utc
from lms_opscheck.probes.logs.matcher import Engine, matcher, needles
from lms_opscheck.probes.logs.pipeline import Prepared
from lms_opscheck.probes.logs.sources import Data
from lms_opscheck.probes.logs.timeline import BEFORE, Timeline
from lms_opscheck.probes.logs.window import LogScan, LogWindow

ACCESS_STATUSES = ("401", "429", "5xx")


@dataclass
class _Window:
    since: float
    errors: ErrorTally | None
    access: AccessTally | None
    lines: int = 0
    bytes: int = 0
    placed: int = 0
    files: list[str] = field(default_factory=list)
    first: float | None = None
    last: float | None = None
    requests: bool = False


def scan_location(
    shell: Shell,
    location: LogLocation,
    policy: LogPolicy,
    windows: Sequence[timedelta],
    *,
    errors: bool = True,
    access: bool = True,
    now: datetime | None = None,
    engine: Engine = "auto",
) -> LogScan:
    """Measure ``windows`` (each ending now) of ``location``; Unreadable if it cannot be read."""
    until = now or datetime.now(UTC)
    label = f"{location.dir}/{location.pattern} on {shell.label}"
    lengths = sorted(set(windows), reverse=True)
    files = sources.list_files(shell, location)
    scanner = _Scanner(shell, location, policy, lengths, until, errors, access, engine)
    scanner.run(files)
    return LogScan(label, scanner.result(label, files))


class _Scanner:
    def __init__(
        self,
        shell: Shell,
        location: LogLocation,
        policy: LogPolicy,
        lengths: list[timedelta],
        until: datetime,
        errors: bool,
        access: bool,
        engine: Engine,
    ) -> None:
        self.shell, self.location, self.lengths, self.until = shell, location, lengths, until
        self.clock = Clock(location.timezone)
        self.keys = location.json_keys
        self.timeline = Timeline(self.clock, self.keys)
        self.chunk = sources.LOCAL_CHUNK if shell.is_local else sources.REMOTE_CHUNK
        self.windows = [
            _Window(
                (until - length).timestamp(),
                ErrorTally(policy.error_levels, policy.top) if errors else None,
                AccessTally(policy) if access else None,
            )
            for length in lengths
        ]
        statuses = (*ACCESS_STATUSES, *(str(s) for s in policy.auth_failure_statuses))
        self.matcher = matcher(
            needles(
                location.formats,
                error_levels=policy.error_levels if errors else (),
                statuses=statuses if access else (),
                status_keys=self.keys.status,
                paths=policy.scanner_paths if access else (),
            ),
            engine,
        )
        #: What each file read was searched with: the matcher's engine, or "native" for a big
        #: local file whose plain needles the native reader found (its seams: bytes.find).
        self.engines: set[str] = set()
        self.markers = _request_markers(location) if access else ()
        self.carry: float | None = None
        self.newest: float | None = None
        self.unplaced = 0

    # -- files -----------------------------------------------------------------------------

    def run(self, files: list[sources.LogFile]) -> None:
        start = self.windows[0].since
        wanted = [f for f in files if f.mtime >= start]
        if len(wanted) < len(files):
            self.carry = BEFORE  # older files exist: whatever precedes is before the window
        for file in wanted:
            self._read(file)
        if files and (not wanted or wanted[-1] is not files[-1]):
            self._peek_newest(files[-1])

    def _read(self, file: sources.LogFile) -> None:
        read = sources.reader(self.shell, file)
        try:
            where = f"{file.path} on {self.shell.label}"
            ready: Generator[Prepared, None, None]
            engine = self.matcher.engine
            if file.compressed:
                slices = sources.raw_slices(read, file.size, self.chunk)
                pieces = sources.gunzip(slices, self.chunk, where)
                chunks = sources.lines_chunks(pieces, self.chunk)
                ready = pipeline.prepared(chunks, self.matcher, size=file.size)
            else:
                begin = self.timeline.seek(read, file.size, self.windows[0].since)
                if begin > 0 and self.carry is None:
                    self.carry = BEFORE
                if isinstance(read, sources.LocalReader) and pipeline.threaded(file.size - begin):
                    ready = parallel.prepared(read, begin, file.size, self.matcher, self.chunk)
                    if sources.searches_while_reading(self.matcher.literals):
                        engine = "native"
                else:
                    chunks = sources.plain_chunks(read, begin, file.size, self.chunk)
                    ready = pipeline.prepared(chunks, self.matcher, size=file.size - begin)
            with contextlib.closing(ready):  # its reading thread ends before ``read`` closes
                for piece in ready:
                    self._chunk(piece, file.name)
            self.engines.add(engine)
        finally:
            sources.close(read)

    def _peek_newest(self, file: sources.LogFile) -> None:
        """The newest line's time when the newest file held nothing in the window."""
        if file.compressed or file.size == 0:
            return
        read = sources.reader(self.shell, file)
        try:
            offset = max(0, file.size - sources.PROBE)
            block = read(offset, sources.PROBE)
        finally:
            sources.close(read)
        start = block.find(b"\n") + 1 if offset else 0
        found = self.timeline.last(block, start, len(block))
        if found is not None:
            self.newest = max(self.newest or found[1], found[1])

    # -- chunks ----------------------------------------------------------------------------

    def _chunk(self, piece: Prepared, name: str) -> None:
        """Measure the lines ``data[start:end]`` of a chunk."""
        chunk, begin, size = piece.data, piece.start, piece.end
        first = self.timeline.first(chunk, begin, size)
        last = self.timeline.last(chunk, begin, size) if first is not None else None
        carry = self.carry
        if last is not None and last[1] < self.windows[0].since:
            self._advance(last[1])
            return
        bounds = [self._boundary(begin, size, chunk, first, last, w.since) for w in self.windows]
        head = first[0] if first is not None else size
        if carry is None and head > begin:
            self.unplaced += count_lines(chunk[begin:head])
        self._count(piece, name, bounds, last)
        low = min(bounds)
        if low < size:
            self._candidates(piece, bounds, low, carry)
            self._presence(chunk, size, bounds)
        if last is not None:
            self._advance(last[1])

    def _advance(self, t: float) -> None:
        self.carry = t
        self.newest = t if self.newest is None else max(self.newest, t)

    def _boundary(
        self,
        begin: int,
        size: int,
        chunk: Data,
        first: tuple[int, float] | None,
        last: tuple[int, float] | None,
        since: float,
    ) -> int:
        head_in = self.carry is not None and self.carry >= since
        if first is None or last is None:
            return begin if head_in else size
        if first[1] >= since:
            return begin if head_in else first[0]
        if last[1] < since:
            return size
        return self.timeline.bisect(chunk, first[0], last[0], since)

    def _count(
        self,
        piece: Prepared,
        name: str,
        bounds: list[int],
        last: tuple[int, float] | None,
    ) -> None:
        chunk, size = piece.data, piece.end
        points = sorted({b for b in bounds if b < size})
        # A chunk wholly in every window is the count made ahead.
        counts = {
            p: piece.newlines
            if p == piece.start and len(points) == 1
            else count_lines(chunk[p : points[k + 1] if k + 1 < len(points) else size])
            for k, p in enumerate(points)
        }
        for window, bound in zip(self.windows, bounds, strict=True):
            if bound >= size:
                continue
            window.lines += sum(c for p, c in counts.items() if p >= bound)
            window.bytes += size - bound
            if not window.files or window.files[-1] != name:
                window.files.append(name)
            if window.first is None:
                found = self.timeline.first(chunk, bound, size)
                window.first = found[1] if found is not None else None
            if last is not None and last[0] >= bound:
                window.last = last[1]

    def _candidates(
        self, piece: Prepared, bounds: list[int], low: int, carry: float | None
    ) -> None:
        chunk, begin, size = piece.data, piece.start, piece.end
        line_end = -1
        previous: tuple[int, float | None] = (-1, carry)
        for end in piece.hits:
            if end <= line_end:
                continue  # another needle on the same line
            start = max(chunk.rfind(b"\n", begin, end) + 1, begin)
            line_end = chunk.find(b"\n", end, size)
            line_end = size if line_end < 0 else line_end
            if start < low:
                continue
            record = parse(chunk[start:line_end], self.clock, self.keys)
            if record is None:
                continue
            t = record.time
            if t is None:
                t = self.timeline.placed(chunk, begin, start, previous)
            previous = (start, t)
            if t is None or t == BEFORE:
                continue  # unplaced (counted with the unplaced lines)
            for window, bound in zip(self.windows, bounds, strict=True):
                if start >= bound:
                    window.placed += record.time is None
                    if window.errors is not None:
                        window.errors.add(record, t)
                    if window.access is not None:
                        window.access.add(record, t)

    def _presence(self, chunk: Data, size: int, bounds: list[int]) -> None:
        for window, bound in zip(self.windows, bounds, strict=True):
            if not window.requests and bound < size:
                window.requests = any(chunk.find(m, bound, size) >= 0 for m in self.markers)

    # -- result ----------------------------------------------------------------------------

    def result(self, label: str, files: list[sources.LogFile]) -> tuple[LogWindow, ...]:
        until = self.until
        return tuple(
            LogWindow(
                location=label,
                window=length,
                since=until - length,
                until=until,
                files=tuple(w.files),
                files_found=len(files),
                bytes=w.bytes,
                lines=w.lines,
                unplaced_lines=self.unplaced,
                placed_by_preceding=w.placed,
                first_time=utc(w.first),
                last_time=utc(w.last),
                newest_line=utc(self.newest),
                request_lines=w.requests,
                errors=w.errors.summary() if w.errors is not None else None,
                access=w.access.summary() if w.access is not None else None,
                engine="+".join(sorted(self.engines)) or self.matcher.engine,
            )
            for length, w in zip(self.lengths, self.windows, strict=True)
        )


def _request_markers(location: LogLocation) -> tuple[bytes, ...]:
    markers: list[bytes] = []
    if "uvicorn" in location.formats:
        markers.append(b"HTTP/1.")
    if "lms" in location.formats:
        markers.append(b" -> ")
    if "json" in location.formats:
        markers.extend(f'"{key}"'.encode() for key in location.json_keys.status)
    return tuple(markers)
