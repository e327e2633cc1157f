"""Log files of a location, read as bounded chunks that end on a line break.

Local files are read with ``os.pread``; remote ones through the host's ``Shell`` in slices
(``dd`` with byte offsets: GNU coreutils, like the ``find`` that lists the folder), so neither
side ever holds more than one slice. Gzipped rotations are decompressed here, slice by slice
(only the compressed bytes cross ssh). A plain file is entered by binary search on its
timestamps, so only the window is read; a gzipped one is read from its start (gzip cannot seek),
and its chunks before the window are skipped after a look at their last line.
"""

from __future__ import annotations

import fnmatch
import mmap
import os
import queue
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from lms_opscheck.config.logs import LogLocation
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.hosts import Shell
from lms_opscheck.probes.logs.counting import native

# Five buffers of this size are alive while a big local file is read (parallel.py): 4 MiB keeps
# the reader's process under 60 MB at its peak (bench/bench_logs.py).
LOCAL_CHUNK = 4 << 20
REMOTE_CHUNK = 8 << 20  # per ssh round trip; with gzip, slice + inflated piece + chunk stay < 50 MB
PROBE = 64 << 10
LIST_TIMEOUT = timedelta(seconds=30)
READ_TIMEOUT = timedelta(seconds=120)
_ROTATION = re.compile(r"^(?P<base>.+?)(?P<rot>\.\d{1,4}|-\d{8}(?:\d{2,6})?)?(?P<gz>\.gz)?$")


@dataclass(frozen=True)
class LogFile:
    name: str
    path: str
    size: int
    mtime: float
    compressed: bool
    rotation: int  # 0 for the live file; larger is older (for equal mtimes)


def select(location: LogLocation, entries: list[tuple[str, int, float]]) -> list[LogFile]:
    """The files of ``location`` among ``(name, size, mtime)`` entries, oldest first."""
    found: list[LogFile] = []
    for name, size, mtime in entries:
        match = _ROTATION.match(name)
        if fnmatch.fnmatchcase(name, location.pattern):
            rotation, compressed = 0, name.endswith(".gz")
        elif location.rotated and match and fnmatch.fnmatchcase(match["base"], location.pattern):
            rot = match["rot"] or ""
            rotation = int(rot[1:]) if rot.startswith(".") else 1
            compressed = bool(match["gz"])
        else:
            continue
        path = f"{location.dir.rstrip('/')}/{name}"
        found.append(LogFile(name, path, size, mtime, compressed, rotation))
    return sorted(found, key=lambda f: (f.mtime, -f.rotation, f.name))


def list_files(shell: Shell, location: LogLocation) -> list[LogFile]:
    """Every log file of the location; Unreadable if the folder cannot be listed."""
    where = f"{location.dir} on {shell.label}"
    if shell.is_local:
        try:
            with os.scandir(location.dir) as found:
                entries = [
                    (e.name, (st := e.stat()).st_size, st.st_mtime) for e in found if e.is_file()
                ]
        except OSError as exc:
            raise Unreadable(where, f"cannot list: {exc.strerror or exc}") from None
        return select(location, entries)
    done = shell.run(
        ["find", location.dir, "-maxdepth", "1", "-type", "f", "-printf", r"%f\t%s\t%T@\n"],
        LIST_TIMEOUT,
    )
    if done.rc != 0:
        raise Unreadable(where, f"cannot list: {done.error_text}")
    entries = []
    for line in done.stdout.decode(errors="replace").splitlines():
        name, _, rest = line.partition("\t")
        size, _, mtime = rest.partition("\t")
        try:
            entries.append((name, int(size), float(mtime)))
        except ValueError:
            raise Unreadable(where, f"unexpected listing line {line[:120]!r}") from None
    return select(location, entries)


Reader = Callable[[int, int], bytes]


class Filled(NamedTuple):
    """A read into a buffer: bytes read, their line breaks and needle ends if found on the way."""

    got: int
    newlines: int | None
    ends: list[int] | None


def searches_while_reading(needles: tuple[bytes, ...] | None) -> bool:
    """Whether ``LocalReader.into`` finds ``needles`` itself (the native reader, plain needles)."""
    return native is not None and bool(needles)


class LocalReader:
    """``read(offset, length)`` of a local file, and ``into(offset, buffer)`` for recycled
    buffers (``Buffers``)."""

    def __init__(self, path: str, where: str) -> None:
        self.where = where
        try:
            self._fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise Unreadable(where, f"cannot read: {exc.strerror or exc}") from None

    def __call__(self, offset: int, length: int) -> bytes:
        try:
            return os.pread(self._fd, length, offset)
        except OSError as exc:
            raise Unreadable(self.where, f"cannot read: {exc.strerror or exc}") from None

    def into(
        self, offset: int, buffer: mmap.mmap, length: int, needles: tuple[bytes, ...] | None = None
    ) -> Filled:
        """Read ``length`` bytes from ``offset`` into the head of ``buffer``. The native reader
        also counts their line breaks and finds the plain ``needles`` on the way, while each
        piece is still in the CPU's cache; without it, they are left to the caller (None)."""
        with memoryview(buffer) as whole, whole[:length] as view:
            try:
                if native is None:
                    return Filled(os.preadv(self._fd, [view], offset), None, None)
                if searches_while_reading(needles):
                    return Filled(*native.pread_scanning(self._fd, offset, view, needles))
                got, newlines = native.pread_counting(self._fd, offset, view)
                return Filled(got, newlines, None)
            except OSError as exc:
                raise Unreadable(self.where, f"cannot read: {exc.strerror or exc}") from None

    def close(self) -> None:
        os.close(self._fd)


def reader(shell: Shell, file: LogFile) -> Reader:
    """``read(offset, length)`` of ``file`` on its host; Unreadable when it cannot be read."""
    where = f"{file.path} on {shell.label}"
    if shell.is_local:
        return LocalReader(file.path, where)

    def read_remote(offset: int, length: int) -> bytes:
        done = shell.run(
            [
                *("dd", f"if={file.path}", "bs=1M", "iflag=skip_bytes,count_bytes"),
                *(f"skip={offset}", f"count={length}", "status=none"),
            ],
            READ_TIMEOUT,
        )
        if done.rc != 0:
            raise Unreadable(where, f"cannot read: {done.error_text}")
        return done.stdout

    return read_remote


def close(read: Reader) -> None:
    closer = getattr(read, "close", None)
    if closer is not None:
        closer()


class Buffers:
    """Chunk-sized buffers a big local file is read into again and again.

    Why: a fresh 4 MiB ``bytes`` per chunk is fresh memory whose pages the kernel zeroes on first
    touch (on a 1 GiB log, in a fresh process, the reading thread's CPU went from 0.42 s to
    0.22 s with recycled buffers), and a copy into a buffer that is not aligned with the page
    cache (a ``bytearray``) is 1.3-2x slower: these are page-aligned anonymous maps. At most
    ``limit`` exist; ``take`` waits for one to be given back, and returns None once ``close``
    was called (the reading stops).
    """

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self._limit = limit
        self._made = 0
        self._free: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def take(self) -> mmap.mmap | None:
        while not self._closed.is_set():
            with self._lock:
                if self._free.empty() and self._made < self._limit:
                    self._made += 1
                    return mmap.mmap(-1, self.size)
            try:
                return self._free.get(timeout=0.05)
            except queue.Empty:
                continue
        return None

    def give(self, buffer: mmap.mmap) -> None:
        """Hand back a buffer ``take`` gave."""
        self._free.put(buffer)

    def close(self) -> None:
        self._closed.set()


def raw_slices(read: Reader, size: int, slice_size: int) -> Iterator[bytes]:
    offset = 0
    while offset < size:
        data = read(offset, min(slice_size, size - offset))
        if not data:
            return  # the file shrank (truncated or rotated while we read)
        offset += len(data)
        yield data


def gunzip(slices: Iterator[bytes], chunk: int, where: str) -> Iterator[bytes]:
    """Decompressed pieces of at most ``chunk`` bytes; concatenated gzip members included."""
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        for data in slices:
            while data:
                out = inflater.decompress(data, chunk)
                data = inflater.unconsumed_tail
                if out:
                    yield out
                if inflater.eof:
                    data = inflater.unused_data + data
                    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        tail = inflater.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise Unreadable(where, f"not a readable gzip file: {exc}") from None


#: A chunk's bytes: ``bytes``, or a recycled buffer (``Buffers``) that reads like it (find,
#: rfind, slices that are ``bytes``).
Data = bytes | mmap.mmap


class Chunk(NamedTuple):
    """Lines are ``data[start:end]``; ``newlines``: their line breaks, if counted already."""

    data: Data
    start: int
    end: int
    newlines: int | None = None


#: A copy runs at memory speed when its source and destination share their place in a cache line,
#: 1.3-2x slower otherwise: recycled buffers (page-aligned) are read into from such offsets.
ALIGN = 64


def plain_chunks(read: Reader, start: int, stop: int, size: int) -> Iterator[Chunk]:
    """Chunks of ``read`` from ``start`` to ``stop``; the cut-off tail is read again next time
    (no bytes are copied to stitch lines together)."""
    offset = start
    while offset < stop:
        data = read(offset, min(size, stop - offset))
        if not data:
            return  # the file shrank (truncated or rotated while we read)
        # The last line may still be being written (no line break yet); a chunk without a line
        # break at all is no text log, and is cut where it ends.
        last = offset + len(data) >= stop
        end = len(data) if last else data.rfind(b"\n") + 1 or len(data)
        yield Chunk(data, 0, end)
        offset += end


def lines_chunks(pieces: Iterator[bytes], chunk: int) -> Iterator[Chunk]:
    """Re-cut decompressed ``pieces`` into chunks of about ``chunk`` bytes."""
    pending = b""
    for piece in pieces:
        pending = pending + piece if pending else piece
        if len(pending) < chunk:
            continue
        cut = pending.rfind(b"\n") + 1
        if cut:
            yield Chunk(pending, 0, cut)
            pending = pending[cut:]
        elif len(pending) > 4 * chunk:  # no line break in sight (not a text log): bound memory
            yield Chunk(pending, 0, len(pending))
            pending = b""
    if pending:
        yield Chunk(pending, 0, len(pending))
