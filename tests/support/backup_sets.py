"""Backup folders as real hosts leave them: names in local time, real dumps, real encryption."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from lms_opscheck.sandbox.artifacts import pg_dump
from lms_opscheck.sandbox.postgres import PostgresServer

#: Where pg_dump's custom-format header keeps its creation time (archive 1.14+): seven 5-byte
#: integers (sign byte + 4 bytes little-endian): sec, min, hour, mday, mon (0-11), year-1900,
#: isdst. pg_restore --list prints them as "Archive created at".
_CREATED_AT = 12


def nightly_in_zone(
    server: PostgresServer,
    directory: Path,
    zone: str,
    *,
    nights: int = 31,
    archive_zone: str = "UTC",
    zone_dir: Path | None = None,
) -> Path:
    """A fresh real dump named by its host's local time in ``zone`` (the LMS's Get-Date), and
    copies for the nights before, each named at the same local time and dated by its real
    instant. pg_dump runs in ``archive_zone`` (the LMS runs it in a UTC container)."""
    directory.mkdir(parents=True, exist_ok=True)
    where = _zone(zone, zone_dir)
    started = datetime.now(UTC).replace(microsecond=0)
    local = started.astimezone(where).replace(tzinfo=None)
    newest = directory / f"lms_{local:%Y%m%d_%H%M%S}.dump"
    pg_dump(server, "lms", newest, tz=archive_zone)
    for night in range(1, nights):
        day = local - timedelta(days=night)
        copy = directory / f"lms_{day:%Y%m%d_%H%M%S}.dump"
        shutil.copyfile(newest, copy)
        real = day.replace(tzinfo=where).astimezone(UTC) + timedelta(seconds=30)
        os.utime(copy, (real.timestamp(), real.timestamp()))
    return newest


def _zone(name: str, zone_dir: Path | None) -> ZoneInfo:
    if zone_dir is None:
        return ZoneInfo(name)
    with (zone_dir / name).open("rb") as handle:
        return ZoneInfo.from_file(handle, key=name)


def shifting_zone(root: Path, change: datetime) -> tuple[Path, str]:
    """A real TZif zone (compiled by zic) that leaves DST at ``change``: UTC+2 before, UTC+1
    after, the hour before the change repeated. Returns (zone folder, zone name) for
    PYTHONTZPATH, so that the test does not depend on the calendar's real DST dates."""
    name = "Opscheck/Shift"
    at = change.astimezone(UTC)
    source = root / "shift.zi"
    source.write_text(
        f"Rule Shift {at.year - 1} only - Jan 1 0:00 1:00 S\n"
        f"Rule Shift {at.year} only - {at:%b} {at.day} {at:%H:%M}u 0 -\n"
        "Zone Opscheck/Shift 1:00 Shift +01/+02\n"
    )
    zone_dir = root / "zoneinfo"
    subprocess.run(["zic", "-d", str(zone_dir), str(source)], check=True, timeout=30)
    return zone_dir, name


def age_archive_header(path: Path, days: int) -> None:
    """Rewrite the archive header's creation time ``days`` earlier (an old dump, renamed)."""
    raw = bytearray(path.read_bytes())
    assert raw[:5] == b"PGDMP" and raw[8] == 4, "not a 4-byte-int custom archive"
    fields = [_read_int(raw, _CREATED_AT + 5 * i) for i in range(7)]
    sec, minute, hour, mday, mon, year, _ = fields
    created = datetime(year + 1900, mon + 1, mday, hour, minute, sec) - timedelta(days=days)
    values = (
        created.second,
        created.minute,
        created.hour,
        created.day,
        created.month - 1,
        created.year - 1900,
        0,
    )
    for i, value in enumerate(values):
        _write_int(raw, _CREATED_AT + 5 * i, value)
    path.write_bytes(bytes(raw))


def _read_int(raw: bytearray, at: int) -> int:
    value = int.from_bytes(raw[at + 1 : at + 5], "little")
    return -value if raw[at] else value


def _write_int(raw: bytearray, at: int, value: int) -> None:
    raw[at] = 1 if value < 0 else 0
    raw[at + 1 : at + 5] = abs(value).to_bytes(4, "little")


def gpg(source: Path, target: Path, *, armor: bool = False, public_key: bool = False) -> None:
    """Encrypt with the real gpg: a passphrase, or a throwaway key pair."""
    with tempfile.TemporaryDirectory(prefix="gnupg-") as home:
        os.chmod(home, 0o700)
        base = ["gpg", "--homedir", home, "--batch", "--yes", "--pinentry-mode", "loopback"]
        try:
            if public_key:
                key = ["--passphrase", "", "--quick-gen-key", "opscheck <ops@example>"]
                _run([*base, *key, "default", "default", "never"])
                mode = ["--trust-model", "always", "-r", "ops@example", "--encrypt"]
            else:
                mode = ["--passphrase", "selftest", "--symmetric"]
            armour = ["--armor"] if armor else []
            _run([*base, *armour, *mode, "-o", str(target), str(source)])
        finally:  # gpg started an agent for this home: stop it with the home
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], timeout=30, check=False)


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


def keep_mtime(path: Path, moment: float) -> None:
    os.utime(path, (moment, moment))
