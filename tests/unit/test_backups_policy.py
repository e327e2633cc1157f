"""The backup catalogue's policy arithmetic and archive parsing, on plain data."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lms_opscheck.config.model import BackupLocation
from lms_opscheck.probes import archive
from lms_opscheck.probes.backups import (
    Backup,
    Catalogue,
    catalogue,
    clock_disagreements,
    daily_gaps,
    entries_to_backups,
    future_dated,
    oldest_age,
    past_retention,
    size_verdict,
)
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.hosts import LocalShell
from lms_opscheck.probes.wallclock import Reading

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
PATTERN = BackupLocation(dir="/x").pattern


def backup(name: str, size: int, at: datetime, mtime: datetime) -> Backup:
    return Backup(name, size, at.replace(tzinfo=None), Reading(at, at), mtime)


def nightly(days: int, size: int = 50_000, hour: int = 2) -> list[Backup]:
    out = []
    for day in range(days):
        at = (NOW - timedelta(days=day)).replace(hour=hour, minute=0)
        out.append(backup(f"lms_{at:%Y%m%d_%H%M%S}.dump", size, at, at))
    return sorted(out, key=lambda b: b.taken_at)


def cat(backups: list[Backup]) -> Catalogue:
    return Catalogue("/b", "local://", PATTERN, "UTC", tuple(backups), NOW)


def test_names_give_the_time_and_non_matching_files_are_ignored() -> None:
    found = entries_to_backups(
        [
            ("lms_20261127_020000.dump", 10, 1.0),
            ("lms_20261399_020000.dump", 10, 1.0),  # no such month
            ("notes.txt", 10, 1.0),
            ("lms_20261126_020000.dump.partial", 10, 1.0),
        ],
        PATTERN,
    )
    assert [b.name for b in found] == ["lms_20261127_020000.dump"]
    assert found[0].taken_at == datetime(2026, 11, 27, 2, tzinfo=UTC)


def test_latest_skips_future_dated_and_reports_them() -> None:
    ahead = backup("lms_20261201_020000.dump", 9, NOW + timedelta(days=3), NOW)
    c = cat([*nightly(3), ahead])
    latest = c.latest(timedelta(hours=1))
    assert latest is not None and latest.taken_at.day == 28
    assert future_dated(c, timedelta(hours=1)) == [ahead]
    assert ahead in clock_disagreements(c, timedelta(hours=1))


def test_size_compares_with_the_trailing_median_of_previous_backups() -> None:
    backups = nightly(8)
    small = backup(backups[-1].name, 20_000, backups[-1].taken_at, backups[-1].mtime)
    c = cat([*backups[:-1], small])
    verdict = size_verdict(c, small, window=7, min_bytes=1024, ratio=0.5)
    assert verdict.median == 50_000 and verdict.compared == 7
    assert verdict.floor == 25_000 and not verdict.ok
    first = size_verdict(cat(backups[:1]), backups[0], 7, 1024, 0.5)
    assert first.median is None and first.floor == 1024 and first.ok


def test_gaps_are_the_empty_24h_windows() -> None:
    backups = nightly(10)
    del backups[-4]  # three days ago
    gaps = daily_gaps(cat(backups), 7)
    assert len(gaps) == 1 and gaps[0].end == NOW - timedelta(days=3)
    assert daily_gaps(cat(nightly(10)), 7) == []


def test_retention_both_ways() -> None:
    c = cat(nightly(31))
    age = oldest_age(c)
    assert age is not None and age == timedelta(days=30, hours=7)
    assert past_retention(c, timedelta(days=32)) == []
    assert len(past_retention(cat(nightly(40)), timedelta(days=32))) == 8  # ages 32d7h..39d7h
    assert oldest_age(cat([])) is None


GPG_SYMMETRIC = bytes.fromhex("8c0d04090302ed4f20a4a8cd6c4affd24001aaa8b6240fda")
GPG_PUBLIC_KEY = bytes.fromhex("85018c0325b9516e3288b6a4010bfd1b1f27a16b3ef4259f")


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        (b"PGDMP\x01\x0f\x00", "custom"),
        (b"--\n-- PostgreSQL database dump", "plain"),
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"\xfd7zXZ\x00\x00\x04", "xz"),
        (b"\x28\xb5\x2f\xfd\x04", "zstd"),
        (b"BZh91AY&SY", "bzip2"),
        (b"", "empty"),
        (b"Salted__\x8a\x01", "openssl"),
        (b"-----BEGIN PGP MESSAGE-----\n\njA0E", "openpgp-armored"),
        (b"-----BEGIN PGP", "plain"),  # a cut armour line is no encryption header
        (GPG_SYMMETRIC, "openpgp"),
        (GPG_PUBLIC_KEY, "openpgp"),
        (b"age-encryption.org/v1\n-> X25519 abc", "age"),
        (b"-----BEGIN AGE ENCRYPTED FILE-----\n", "age"),
        (b"\x8c\x0d\x07\x09\x03\x02", "unrecognised"),  # a tag-3 byte, version 7: not gpg
        (bytes(range(7, 71)), "unrecognised"),
    ],
)
def test_sniff_names_formats_and_recognises_encryption_positively(header: bytes, kind: str) -> None:
    assert archive.sniff(header) == kind, archive.sniff(header)


def test_random_bytes_are_almost_never_taken_for_encryption() -> None:
    import random

    rng = random.Random(20261128)
    samples = [rng.randbytes(64) for _ in range(20_000)]
    taken = sum(archive.sniff(s) in archive.ENCRYPTED for s in samples)
    assert taken <= 2, taken  # measured: 2 in 1,000,000 pass the OpenPGP packet checks


LISTING = """;
; Archive created at 2026-11-28 00:55:07 UTC
;     dbname: lms
;     Format: CUSTOM
;
215; 1259 16386 TABLE public alembic_version lms
244; 1259 16611 SEQUENCE public audit_logs_id_seq lms
219; 1259 16405 TABLE public courses lms
3001; 0 16405 TABLE DATA public courses lms
"""


def test_listing_parses_tables_data_and_creation_time() -> None:
    listing = archive.parse_listing("/b/x.dump", "local://", LISTING)
    assert listing.ok and listing.dbname == "lms" and listing.format == "CUSTOM"
    assert listing.tables == ("public.alembic_version", "public.courses")
    assert listing.data == ("public.courses",)
    assert listing.entries == 4
    assert listing.missing(["courses", "users", "public.alembic_version"]) == ["users"]
    assert listing.missing_data(["courses", "alembic_version"]) == ["alembic_version"]
    assert listing.public_tables() == 2
    assert listing.created_at is not None
    assert listing.created_at.earliest == datetime(2026, 11, 28, 0, 55, 7, tzinfo=UTC)


def test_archive_time_in_a_dst_zone_is_settled_by_the_printed_abbreviation() -> None:
    # pg_restore ran with TZ=Europe/Berlin: it prints the repeated hour with CEST or CET.
    for label, hour in (("CEST", 0), ("CET", 1)):
        text = LISTING.replace("2026-11-28 00:55:07 UTC", f"2026-10-25 02:30:00 {label}")
        listing = archive.parse_listing("/b/x.dump", "local://", text, "Europe/Berlin")
        assert listing.created_at is not None
        assert listing.created_at.earliest == datetime(2026, 10, 25, hour, 30, tzinfo=UTC)
        assert not listing.created_at.ambiguous


def test_local_catalogue_reads_names_sizes_and_mtimes(tmp_path: Path) -> None:
    dump = tmp_path / "lms_20261127_020000.dump"
    dump.write_bytes(b"PGDMP" + b"\0" * 95)
    stamp = datetime(2026, 11, 27, 2, 0, 30, tzinfo=UTC).timestamp()
    os.utime(dump, (stamp, stamp))
    (tmp_path / "sub").mkdir()
    c = catalogue(LocalShell(), BackupLocation(dir=str(tmp_path)), now=NOW)
    assert [(b.name, b.size) for b in c.backups] == [(dump.name, 100)]
    assert c.backups[0].skew == timedelta(seconds=30)
    headers = archive.read_headers(LocalShell(), str(tmp_path), [dump.name])
    assert archive.sniff(headers[dump.name]) == "custom"


def test_missing_directory_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(Unreadable, match=f"{tmp_path / 'nope'} on local://: cannot list"):
        catalogue(LocalShell(), BackupLocation(dir=str(tmp_path / "nope")))
