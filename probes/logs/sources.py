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
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from lms_opscheck.config.logs import LogLocation
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.hosts import Shell

# Up to five chunks are alive while a big file is read ahead (pipeline.py): 4 MiB keeps the
# reader near 75 MB at its peak (8 MiB: 100 MB) at the same speed (bench/bench_logs.py).
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


def reader(shell: Shell, file: LogFile) -> Reader:
    """``read(offset, length)`` of ``file`` on its host; Unreadable when it cannot be read."""
    where = f"{file.path} on {shell.label}"
    if shell.is_local:
        try:
            fd = os.open(file.path, os.O_RDONLY)
        except OSError as exc:
            raise Unreadable(where, f"cannot read: {exc.strerror or exc}") from None

        def read_local(offset: int, length: int) -> bytes:
            try:
                return os.pread(fd, length, offset)
            except OSError as exc:
                raise Unreadable(where, f"cannot read: {exc.strerror or exc}") from None

        read_local.close = lambda: os.close(fd)  # type: ignore[attr-defined]
        return read_local

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


Chunk = tuple[bytes, int]


def plain_chunks(read: Reader, start: int, stop: int, size: int) -> Iterator[Chunk]:
    """``(data, end)``: the lines are ``data[:end]``; the cut-off tail is read again next time
    (no bytes are copied to stitch lines together)."""
    offset = start
    while offset < stop:
        data = read(offset, min(size, stop - offset))
        if not data:
            return  # the file shrank (truncated or rotated while we read)
        if offset + len(data) >= stop:
            yield data, len(data)  # the last line may still be being written: no newline yet
            return
        cut = data.rfind(b"\n") + 1 or len(data)  # no line break at all: not a text log
        yield data, cut
        offset += cut


def lines_chunks(pieces: Iterator[bytes], chunk: int) -> Iterator[Chunk]:
    """Re-cut decompressed ``pieces`` into ``(data, end)`` chunks of about ``chunk`` bytes."""
    pending = b""
    for piece in pieces:
        pending = pending + piece if pending else piece
        if len(pending) < chunk:
            continue
        cut = pending.rfind(b"\n") + 1
        if cut:
            yield pending, cut
            pending = pending[cut:]
        elif len(pending) > 4 * chunk:  # no line break in sight (not a text log): bound memory
            yield pending, len(pending)
            pending = b""
    if pending:
        yield pending, len(pending)
