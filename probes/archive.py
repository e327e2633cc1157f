"""What a dump file is: its header (format, encryption) and its ``pg_restore --list`` TOC.

Both run on the host that holds the file and read only its first bytes or its table of
contents, so time and memory do not grow with the dump's data.

Encryption is recognised positively, never assumed: a file counts as encrypted only when its
first bytes are an OpenPGP message (gpg, binary or armoured), an age file, or openssl enc's
``Salted__`` header. Anything else is named for what it is (a PostgreSQL archive, plain SQL,
gzip/xz/zstd/bzip2/lz4/zip) or reported as unrecognised bytes, which is not encryption either.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from lms_opscheck.probes.errors import MeasurementError, Unreadable
from lms_opscheck.probes.hosts import NOT_FOUND, Shell
from lms_opscheck.probes.wallclock import Reading, read_labelled, zone

HEADER_BYTES = 64
HEADER_TIMEOUT = timedelta(seconds=30)

FORMATS = {
    "custom": "a PostgreSQL custom-format archive (PGDMP)",
    "tar": "a PostgreSQL tar-format archive",
    "plain": "a plain SQL script",
    "gzip": "a gzip stream (e.g. pg_dump | gzip), not encrypted",
    "xz": "an xz stream, not encrypted",
    "zstd": "a zstd stream, not encrypted",
    "bzip2": "a bzip2 stream, not encrypted",
    "lz4": "an lz4 stream, not encrypted",
    "zip": "a zip archive, not encrypted",
    "empty": "an empty file",
    "openpgp": "an OpenPGP (gpg) encrypted message",
    "openpgp-armored": "an ASCII-armoured OpenPGP (gpg) encrypted message",
    "age": "an age-encrypted file",
    "openssl": "an openssl enc encrypted file (Salted__)",
    "unrecognised": "unrecognised bytes: no known dump, compression or encryption header",
}
ENCRYPTED = frozenset({"openpgp", "openpgp-armored", "age", "openssl"})

_MAGIC = (
    (b"PGDMP", "custom"),
    (b"toc.dat\0", "tar"),
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"PK\x03\x04", "zip"),
    (b"age-encryption.org/v1\n", "age"),
    (b"-----BEGIN AGE ENCRYPTED FILE-----", "age"),
    (b"-----BEGIN PGP MESSAGE-----", "openpgp-armored"),
    (b"Salted__", "openssl"),
)
_SQL_STARTS = (b"--", b"SET ", b"CREATE ", b"BEGIN", b"\\", b"SELECT ")


def sniff(header: bytes) -> str:
    """The format a file's first bytes show (a key of FORMATS)."""
    if not header:
        return "empty"
    for magic, kind in _MAGIC:
        if header.startswith(magic):
            return kind
    if _openpgp_message(header):
        return "openpgp"
    if header.lstrip().startswith(_SQL_STARTS):
        return "plain"
    return "unrecognised"


def describe(kind: str, header: bytes = b"") -> str:
    text = FORMATS.get(kind, kind)
    if kind == "unrecognised" and header:
        text += f" (first bytes {header[:8].hex(' ')})"
    return text


# OpenPGP (RFC 4880/9580): an encrypted message starts with a session-key packet (tag 1 public
# key, tag 3 passphrase) or a Marker packet. Its version and algorithm bytes are checked too, so
# that random bytes (which have the high bit set half the time) are not taken for a message.
_PK_ALGOS = frozenset({1, 2, 16, 18, 20, 25, 26})
_CIPHERS = frozenset(range(1, 14))
_HASHES = frozenset({1, 2, 3, 8, 9, 10, 11, 12, 13, 14})


def _openpgp_message(header: bytes) -> bool:
    packet = _packet(header)
    if packet is None:
        return False
    tag, body = packet
    if tag == 1 and len(body) >= 10:  # PKESK v3: version, 8-byte key id, algorithm
        return body[0] == 3 and body[9] in _PK_ALGOS
    if tag == 1 and len(body) >= 1:
        return body[0] == 6
    if tag == 3 and len(body) >= 4:  # SKESK v4: version, cipher, S2K type, hash
        return (
            body[0] == 4 and body[1] in _CIPHERS and body[2] in (0, 1, 3) and (body[3] in _HASHES)
        )
    if tag == 3 and len(body) >= 2:
        return body[0] in (5, 6) and body[1] in _CIPHERS | {0}
    return tag == 10 and body.startswith(b"PGP")


def _packet(header: bytes) -> tuple[int, bytes] | None:
    first = header[0]
    if not first & 0x80 or len(header) < 2:
        return None
    if first & 0x40:  # new format: tag in 6 bits, then a 1-, 2- or 5-byte length
        tag, length = first & 0x3F, header[1]
        start = 2 if length < 192 or 224 <= length < 255 else (3 if length < 224 else 6)
    else:  # old format: tag in 4 bits, length type in 2
        tag, start = (first >> 2) & 0x0F, 1 + {0: 1, 1: 2, 2: 4, 3: 0}[first & 3]
    return tag, header[start:]


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
    #: Tables with a TABLE DATA entry: a schema-only dump (pg_dump -s) has none.
    data: tuple[str, ...] = ()
    #: "Archive created at" as printed: pg_dump's local wall-clock time and its zone's label.
    created_text: str | None = None
    created_local: datetime | None = None  # naive
    created_at: Reading | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def missing(self, expected: Sequence[str]) -> list[str]:
        """Expected tables (``name`` or ``schema.name``) absent from the archive."""
        return _absent(expected, self.tables)

    def missing_data(self, expected: Sequence[str]) -> list[str]:
        """Expected tables whose rows the archive does not carry (no TABLE DATA entry)."""
        return _absent(expected, self.data)

    def public_tables(self) -> int:
        return sum(1 for t in self.tables if t.startswith("public."))


def _absent(expected: Sequence[str], present: Sequence[str]) -> list[str]:
    qualified = set(present)
    bare = {t.split(".", 1)[1] for t in present}
    return [t for t in expected if t not in (qualified if "." in t else bare)]


def list_archive(
    shell: Shell, pg_restore: str, path: str, timeout: timedelta, timezone: str = "UTC"
) -> Listing:
    """Run ``pg_restore --list`` on the host holding ``path`` and parse its table of contents.

    The archive stores pg_dump's local wall-clock time and whether DST was in force; pg_restore
    rebuilds the instant in *its own* zone. Run in ``timezone`` (the zone pg_dump ran in), it
    prints that wall-clock time exactly, with the zone's abbreviation, which settles DST.
    """
    done = shell.run([pg_restore, "--list", path], timeout, env={"TZ": timezone})
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
    return parse_listing(path, shell.label, done.stdout.decode(errors="replace"), timezone)


_ENTRY = re.compile(r"^\d+;\s+\d+\s+\d+\s+(?P<desc>.+)$")
_CREATED = re.compile(
    r"^;\s*Archive created at (?P<at>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\s*(?P<label>\S*)"
)


def parse_listing(path: str, host: str, text: str, timezone: str = "UTC") -> Listing:
    dbname = fmt = created_text = None
    created_at: Reading | None = None
    created_local: datetime | None = None
    entries = 0
    tables: list[str] = []
    data: list[str] = []
    for line in text.splitlines():
        if line.startswith(";"):
            if match := _CREATED.match(line):
                created_text = f"{match['at']} {match['label']}".strip()
                created_local = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S")
                created_at = read_labelled(created_local, zone(timezone), match["label"])
                continue
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
        if len(words) >= 4 and words[:2] == ["TABLE", "DATA"]:
            data.append(f"{words[2]}.{words[3]}")
        elif len(words) >= 3 and words[0] == "TABLE":
            tables.append(f"{words[1]}.{words[2]}")
    return Listing(
        path,
        host,
        None,
        dbname,
        fmt,
        entries,
        tuple(tables),
        tuple(data),
        created_text,
        created_local,
        created_at,
    )
