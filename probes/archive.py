"""What a dump file is: its header (format, encryption) and its ``pg_restore --list`` TOC.

Both run on the host that holds the file and read only its first bytes or its table of
contents, so time and memory do not grow with the dump's data.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from lms_opscheck.probes.errors import MeasurementError, Unreadable
from lms_opscheck.probes.hosts import NOT_FOUND, Shell

HEADER_BYTES = 16
HEADER_TIMEOUT = timedelta(seconds=30)

#: Formats told apart by the first bytes; anything else is taken to be encrypted (opaque).
FORMATS = {
    "custom": "a PostgreSQL custom-format archive (PGDMP)",
    "plain": "a plain SQL script",
    "gzip": "a gzip stream (e.g. pg_dump | gzip)",
    "empty": "an empty file",
    "opaque": "opaque bytes (encrypted, or not a dump)",
}


def sniff(header: bytes) -> str:
    """The format a file's first bytes show: custom, plain, gzip, empty or opaque."""
    if not header:
        return "empty"
    if header.startswith(b"PGDMP"):
        return "custom"
    if header.startswith(b"\x1f\x8b"):
        return "gzip"
    stripped = header.lstrip()
    if stripped.startswith((b"--", b"SET ", b"CREATE ", b"BEGIN", b"\\")):
        return "plain"
    return "opaque"


def read_headers(shell: Shell, directory: str, names: Sequence[str]) -> dict[str, bytes]:
    """The first bytes of each named file in ``directory``, in one command on a remote host."""
    if shell.is_local:
        return {name: _local_header(directory, name) for name in names}
    script = (
        'for f in "$@"; do [ -r "$f" ] || { echo "cannot read $f" >&2; exit 3; }; '
        'printf "%s\\t" "$f"; '
        f'head -c {HEADER_BYTES} -- "$f" | od -An -v -tx1 | tr -d " \\n" || exit 3; echo; done'
    )
    paths = [posixpath.join(directory, name) for name in names]
    done = shell.run(["sh", "-c", script, "sh", *paths], HEADER_TIMEOUT)
    if done.rc != 0:
        raise Unreadable(f"{directory} on {shell.label}", f"cannot read headers: {done.error_text}")
    headers: dict[str, bytes] = {}
    for line in done.stdout.decode().splitlines():
        path, _, hexed = line.partition("\t")
        headers[posixpath.basename(path)] = bytes.fromhex(hexed)
    return headers


def _local_header(directory: str, name: str) -> bytes:
    path = posixpath.join(directory, name)
    try:
        with open(path, "rb") as handle:
            return handle.read(HEADER_BYTES)
    except OSError as exc:
        raise Unreadable(f"{path} on local://", f"cannot read: {exc.strerror}") from None


@dataclass(frozen=True)
class Listing:
    """``pg_restore --list`` of one file: ``error`` is set when the archive is not valid."""

    path: str
    host: str
    error: str | None
    dbname: str | None
    format: str | None
    entries: int
    tables: tuple[str, ...]  # "schema.name"

    @property
    def ok(self) -> bool:
        return self.error is None

    def missing(self, expected: Sequence[str]) -> list[str]:
        """Expected tables (``name`` or ``schema.name``) absent from the archive."""
        qualified = set(self.tables)
        bare = {t.split(".", 1)[1] for t in self.tables}
        return [t for t in expected if t not in (qualified if "." in t else bare)]


#: pg_restore messages that mean our tool cannot read a file it should, not a bad archive.
_TOOL_PROBLEMS = ("unsupported version", "could not open input file")


def list_archive(shell: Shell, pg_restore: str, path: str, timeout: timedelta) -> Listing:
    """Run ``pg_restore --list`` on the host holding ``path`` and parse its table of contents."""
    done = shell.run([pg_restore, "--list", path], timeout)
    where = f"{path} on {shell.label}"
    if done.rc == NOT_FOUND:
        raise MeasurementError(where, f"{pg_restore} not found on the host: {done.error_text}")
    if done.rc != 0:
        text = done.error_text
        if "unsupported version" in text:
            raise MeasurementError(
                where,
                f"{text}: {pg_restore} is older than the pg_dump that wrote the file "
                "(set artifacts.backups.pg_restore to a newer one)",
            )
        if "could not open input file" in text:
            raise Unreadable(where, text)
        return Listing(path, shell.label, text, None, None, 0, ())
    return parse_listing(path, shell.label, done.stdout.decode(errors="replace"))


_ENTRY = re.compile(r"^\d+;\s+\d+\s+\d+\s+(?P<desc>.+)$")


def parse_listing(path: str, host: str, text: str) -> Listing:
    dbname = fmt = None
    entries = 0
    tables: list[str] = []
    for line in text.splitlines():
        if line.startswith(";"):
            key, _, value = line[1:].strip().partition(":")
            if key == "dbname":
                dbname = value.strip()
            elif key == "Format":
                fmt = value.strip()
            continue
        match = _ENTRY.match(line)
        if match is None:
            continue
        entries += 1
        words = match["desc"].split()
        if len(words) >= 3 and words[0] == "TABLE" and words[1] != "DATA":
            tables.append(f"{words[1]}.{words[2]}")
    return Listing(path, host, None, dbname, fmt, entries, tuple(tables))
