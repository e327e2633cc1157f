"""The native counter and needle finder of big logs (probes/logs/_native.c), against Python's own
bytes methods on real files: both vector paths (AVX2 and SSE2), pieces of every size around the
256 KiB the reader works in, needles cut by a piece's end, overlapping matches."""

from __future__ import annotations

import mmap
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from lms_opscheck.probes.logs.counting import native

pytestmark = pytest.mark.skipif(native is None, reason="built without the native module")

SIZES = [0, 1, 5, 31, 32, 33, 64, 100, 1000, (256 << 10) - 1, 256 << 10, (256 << 10) + 1, 600_000]
NEEDLES = [b"ERROR", b"E", b"RO", b"CRITICAL", b"ERR", b"\nx", b"L"]


def _ends(data: bytes, needles: tuple[bytes, ...]) -> list[int]:
    found: list[int] = []
    for needle in needles:
        at = data.find(needle)
        while at >= 0:
            found.append(at + len(needle))
            at = data.find(needle, at + 1)
    return sorted(found)


def _text(rng: random.Random, size: int) -> bytes:
    if size < 2000:
        return bytes(rng.choice(b"ERO\nxCL") for _ in range(size))
    unit = (bytes(rng.choice(b"ERO\nxCLIT") for _ in range(rng.randint(5, 40))) + b"ERROR" +
            bytes(rng.choice(b"xCRITICAL\n") for _ in range(rng.randint(0, 30))))  # fmt: skip
    return (unit * (size // len(unit) + 1))[:size]


@pytest.fixture(params=[True, False], ids=["avx2", "sse2"])
def vector_path(request: pytest.FixtureRequest) -> Iterator[None]:
    assert native is not None
    before = native.use_avx2(request.param)
    yield
    native.use_avx2(before)


def test_reads_count_and_find_what_python_finds(tmp_path: Path, vector_path: None) -> None:
    assert native is not None
    rng = random.Random(5)
    path = tmp_path / "app.log"
    for _ in range(150):
        data = _text(rng, rng.choice(SIZES))
        path.write_bytes(data)
        needles = tuple(rng.sample(NEEDLES, rng.randint(1, 4)))
        offset = rng.randint(0, min(len(data), 3))
        length = len(data) - offset if rng.random() < 0.7 else rng.randint(0, len(data) - offset)
        buffer = mmap.mmap(-1, len(data) + 64)
        fd = os.open(path, os.O_RDONLY)
        try:
            with memoryview(buffer) as whole, whole[:length] as view:
                got, newlines, ends = native.pread_scanning(fd, offset, view, needles)
                assert native.pread_counting(fd, offset, view) == (got, newlines)
        finally:
            os.close(fd)
        expected = data[offset : offset + length]
        assert buffer[:got] == expected
        assert newlines == expected.count(b"\n") == native.count_byte(expected, 10)
        assert ends == _ends(expected, needles), needles


def test_a_bad_needle_or_descriptor_is_an_error_not_a_crash(tmp_path: Path) -> None:
    assert native is not None
    buffer = bytearray(16)
    with pytest.raises(TypeError, match="non-empty bytes"):
        native.pread_scanning(0, 0, buffer, (b"",))
    with pytest.raises(OSError):
        native.pread_scanning(-1, 0, buffer, (b"x",))
    with pytest.raises(TypeError):
        native.pread_counting(0, 0, b"read-only")  # type: ignore[arg-type]
