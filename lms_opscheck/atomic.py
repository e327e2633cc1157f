"""Write a file so that a reader never sees half of it: a temp file beside it, then a rename.

Readers of the suite's outputs (a dashboard's textfile collector, a CI uploader, the weekly
report) may read while a run writes. Renaming a fresh file over the old one also avoids
truncating a file whose previous content is still being written back (ext4 makes the
truncating writer wait for that: ~80 ms per report rewrite in bench/bench_compliance.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it is removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    with replacing(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
