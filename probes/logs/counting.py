"""Counting line breaks: the package's native counter when it was built, else NumPy or Python.

The native counter (``_native.c``) is optional: the package installs without it when there is no
C compiler, and big logs are then counted with NumPy (outside the GIL, after a ~0.06 s import),
or with ``bytes.replace`` under the GIL. CI prints which one its install got (``log counter:``).
"""

from __future__ import annotations

import functools
import mmap
from collections.abc import Callable
from types import ModuleType

native: ModuleType | None
try:
    from lms_opscheck.probes.logs import _native as native
except ImportError:  # pragma: no cover - depends on the install
    native = None

#: What is counted: a chunk's bytes, a recycled buffer (sources.Buffers) or a view of either.
Scanned = bytes | mmap.mmap | memoryview
Counter = Callable[[Scanned], int]
_SLICE = 1 << 20  # NumPy compares a slice at a time: a 1 MiB temporary instead of a chunk's size


def count_lines(data: Scanned) -> int:
    """Line breaks in ``data``."""
    if native is not None:
        found: int = native.count_byte(data, 10)
        return found
    return python_count(data)


def python_count(data: Scanned) -> int:
    plain = bytes(data)  # a buffer or view has no replace(): only without the native counter
    # bytes.replace of one byte runs memchr: 3x faster than bytes.count (bench/bench_logs.py).
    return len(plain) - len(plain.replace(b"\n", b""))


@functools.cache
def numpy_counter() -> Counter | None:
    """NumPy's count (outside the GIL), or None without NumPy."""
    try:
        import numpy
    except ImportError:  # pragma: no cover - optional accelerator
        return None

    def count(data: Scanned) -> int:
        view = numpy.frombuffer(data, numpy.uint8)
        return sum(
            int(numpy.count_nonzero(view[at : at + _SLICE] == 10))
            for at in range(0, len(view), _SLICE)
        )

    return count


def fast_counter() -> Counter:
    """A count outside the GIL for big logs: native when built, else NumPy's, else Python's."""
    if native is not None:
        return count_lines
    return numpy_counter() or python_count


def engine() -> str:
    """Which counter big logs get (CI prints it: ``log counter:``)."""
    if native is not None:
        return "native"
    return "numpy" if numpy_counter() is not None else "python"
