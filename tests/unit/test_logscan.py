"""The streaming log reader on real files: formats, windows, rotations, gzip, time zones.

Every test runs with both prefilter engines (Hyperscan and pure Python): same answers.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lms_opscheck.config.logs import LogLocation, LogPolicy
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.hosts import LocalShell
from lms_opscheck.probes.logs import LogWindow, counting, pipeline, scan_location, sources
from lms_opscheck.probes.logs.matcher import hyperscan
from lms_opscheck.sandbox.logs import access_line, json_line, lms_line, request_lines
from tests.support.logfiles import MINUTE, burst, db_error, failed_login, health, scanner
from tests.support.logfiles import write as write_at

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)
ENGINES = [
    pytest.param(
        "hyperscan",
        marks=pytest.mark.skipif(hyperscan is None, reason="hyperscan is not installed"),
    ),
    "python",
]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def write(path: Path, *streams: list[tuple[datetime, list[str]]], mtime: datetime = NOW,
          gz: bool = False) -> Path:  # fmt: skip
    return write_at(path, *streams, mtime=mtime, gz=gz)


def scan(
    directory: Path,
    engine: str,
    windows: Iterable[timedelta] = (DAY,),
    policy: LogPolicy | None = None,
    **location: object,
) -> list[LogWindow]:
    found = scan_location(
        LocalShell(),
        LogLocation(dir=str(directory), **location),  # type: ignore[arg-type]
        policy or LogPolicy(),
        list(windows),
        now=NOW,
        engine=engine,  # type: ignore[arg-type]
    )
    return list(found.windows)


def test_error_burst_in_the_window_counts_and_an_old_one_does_not(
    tmp_path: Path, engine: str
) -> None:
    write(
        tmp_path / "app.log",
        health(NOW - timedelta(hours=36), NOW),
        burst(NOW - timedelta(hours=30), 40, db_error),
        burst(NOW - timedelta(hours=2), 12, db_error),
    )
    (window,) = scan(tmp_path, engine)
    assert window.errors is not None
    assert window.errors.errors == 12
    assert window.errors.busiest_hour.events == 12
    sig, count, example = window.errors.signatures[0]
    assert (sig, count) == (
        "ERROR [app.db] pool timeout after <n>s for <email> (request <str>)",
        12,
    )
    assert example.startswith("pool timeout after 30s for user0@lms.example")
    assert window.lines == 24 * 60 * 2 + 12 * 2
    assert window.first_time == NOW - DAY and window.last_time == NOW - MINUTE


def test_requests_are_counted_once_and_access_lines_take_the_preceding_time(
    tmp_path: Path, engine: str
) -> None:
    def unauthorized(moment: datetime, _: int) -> list[str]:
        return request_lines(moment, "203.0.113.9", "GET", "/api/v1/auth/me", 401)

    write(tmp_path / "app.log", health(NOW - timedelta(hours=3), NOW),
          burst(NOW - timedelta(minutes=30), 25, unauthorized))  # fmt: skip
    (window,) = scan(tmp_path, engine)
    access = window.access
    assert access is not None and access.clients_known
    assert access.auth_failures.total == 25  # their app.request twins are not counted again
    assert [(p.key, p.events) for p in access.auth_failures.offenders] == [("203.0.113.9", 25)]
    assert access.auth_failures.paths == (("/api/v1/auth/me", 25),)
    assert window.placed_by_preceding == 25
    assert window.request_lines


def test_rotated_gzip_holds_a_401_burst_and_a_path_scan(tmp_path: Path, engine: str) -> None:
    def probe(moment: datetime, i: int) -> list[str]:
        return request_lines(moment, "198.51.100.7", "GET", f"/.git/config?{i}", 404)

    def guess(moment: datetime, _: int) -> list[str]:
        return request_lines(moment, "198.51.100.8", "POST", "/api/v1/auth/login", 401)

    attack = NOW - timedelta(hours=20)
    write(tmp_path / "app.log.3.gz", health(NOW - timedelta(days=3), NOW - timedelta(hours=50)),
          mtime=NOW - timedelta(hours=50), gz=True)  # fmt: skip
    write(tmp_path / "app.log.2.gz", health(NOW - timedelta(hours=30), NOW - timedelta(hours=18)),
          burst(attack, 15, probe), burst(attack, 25, guess), mtime=NOW - timedelta(hours=18),
          gz=True)  # fmt: skip
    write(tmp_path / "app.log.1", health(NOW - timedelta(hours=18), NOW - timedelta(hours=6)),
          mtime=NOW - timedelta(hours=6))  # fmt: skip
    write(tmp_path / "app.log", health(NOW - timedelta(hours=6), NOW))
    (window,) = scan(tmp_path, engine)
    assert window.files == ("app.log.2.gz", "app.log.1", "app.log")  # .3.gz is older than 24 h
    assert window.lines == 24 * 60 * 2 + (15 + 25) * 2
    access = window.access
    assert access is not None
    assert [(p.key, p.events) for p in access.scanner.offenders] == [("198.51.100.7", 15)]
    assert [(p.key, p.events) for p in access.auth_failures.offenders] == [("198.51.100.8", 25)]
    assert access.lockout_count == 1  # 5 failures lock the client out for 900 s
    assert access.lockouts[0].key == "198.51.100.8"
    assert access.served_count == 0


def test_a_window_without_lines_is_silent_and_says_where_the_newest_line_is(
    tmp_path: Path, engine: str
) -> None:
    write(tmp_path / "app.log", health(NOW - timedelta(days=3), NOW - timedelta(hours=30)),
          mtime=NOW - timedelta(hours=30))  # fmt: skip
    (window,) = scan(tmp_path, engine)
    assert window.silent and window.files == () and window.files_found == 1
    assert window.newest_line == NOW - timedelta(hours=30) - MINUTE
    assert window.silence() == (
        f"no lines between 2026-11-27 12:00:00 and 2026-11-28 12:00:00 UTC in "
        f"{tmp_path}/app.log on local://; newest line at 2026-11-27 05:59:00 UTC"
    )


def test_a_pattern_matching_no_file_is_silent(tmp_path: Path, engine: str) -> None:
    write(tmp_path / "other.log", health(NOW - timedelta(hours=2), NOW))
    (window,) = scan(tmp_path, engine)
    assert window.silent and window.files_found == 0
    assert window.silence().startswith(f"no log file in {tmp_path}/app.log on local://")


def test_a_missing_folder_cannot_be_measured(tmp_path: Path, engine: str) -> None:
    with pytest.raises(Unreadable, match=r"gone on local://: cannot list: No such file"):
        scan(tmp_path / "gone", engine)


def test_json_lines(tmp_path: Path, engine: str) -> None:
    def record(moment: datetime, i: int) -> list[str]:
        return [
            json_line(moment, "INFO", "GET /api/v1/courses -> 500", http_status=500,
                      client_ip="10.1.2.3", path="/api/v1/courses", method="GET"),
            json_line(moment, "ERROR", f"unhandled KeyError 'course_{i}'", request_id=f"r{i}"),
        ]  # fmt: skip

    write(tmp_path / "app.log", burst(NOW - timedelta(hours=1), 30, record))
    (window,) = scan(tmp_path, engine)
    assert window.lines == 60
    assert window.errors is not None and window.errors.errors == 30
    assert window.errors.signatures[0][:2] == ("ERROR [-] unhandled KeyError <str>", 30)
    assert window.access is not None
    assert window.access.server_errors.peak.events == 30
    assert window.access.server_errors.clients == (("10.1.2.3", 30),)


def test_plain_text_times_are_the_locations_local_time(tmp_path: Path, engine: str) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    local_noon = NOW.astimezone(berlin).replace(tzinfo=None)  # 13:00 in Berlin, 12:00 UTC
    lines = [lms_line(local_noon - timedelta(minutes=m), "ERROR", "app", "x") for m in (90, 30)]
    log = tmp_path / "app.log"
    log.write_text("\n".join(lines) + "\n")
    os.utime(log, (NOW.timestamp(), NOW.timestamp()))
    (window,) = scan(tmp_path, engine, windows=[timedelta(hours=1)], timezone="Europe/Berlin")
    assert window.errors is not None and window.errors.errors == 1
    assert window.first_time == NOW - timedelta(minutes=30)
    # Read as UTC, both lines fall in the hour, the newer one 30 minutes in the future.
    (utc_read,) = scan(tmp_path, engine, windows=[timedelta(hours=1)])
    assert utc_read.errors is not None and utc_read.errors.errors == 2
    assert utc_read.last_time == NOW + timedelta(minutes=30)


def test_lines_before_any_timestamp_cannot_be_placed(tmp_path: Path, engine: str) -> None:
    (tmp_path / "app.log").write_text(
        "".join(access_line("10.0.0.1", "GET", "/x", 401) + "\n" for _ in range(7))
    )
    (window,) = scan(tmp_path, engine)
    assert window.silent and window.unplaced_lines == 7
    assert "no timestamped line found; 7 line(s) carry no timestamp" in window.silence()


def test_a_served_scanner_path_is_reported(tmp_path: Path, engine: str) -> None:
    served = request_lines(NOW - MINUTE, "192.0.2.1", "GET", "/.ENV", 200)
    write(tmp_path / "app.log", health(NOW - timedelta(hours=1), NOW), [(NOW - MINUTE, served)])
    (window,) = scan(tmp_path, engine)
    assert window.access is not None and window.access.served_count == 1
    served = window.access.served_scanner[0]
    assert (served.client, served.path, served.status) == ("192.0.2.1", "/.ENV", 200)


def test_nested_windows_from_one_read_across_many_chunks(
    tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small chunks force the binary search, in-chunk bisection and cut-off lines."""
    monkeypatch.setattr(sources, "LOCAL_CHUNK", 48 << 10)
    monkeypatch.setattr(sources, "PROBE", 4 << 10)
    write(tmp_path / "app.log", health(NOW - timedelta(days=9), NOW, timedelta(seconds=20)),
          burst(NOW - timedelta(days=5), 30, db_error),
          burst(NOW - timedelta(hours=5), 3, db_error))  # fmt: skip
    weekly, daily, hourly = scan(
        tmp_path, engine, windows=[DAY, timedelta(days=7), timedelta(hours=1)]
    )
    assert (weekly.window, daily.window, hourly.window) == (
        timedelta(days=7),
        DAY,
        timedelta(hours=1),
    )
    per_hour = 3 * 60 * 2
    assert hourly.lines == per_hour
    assert daily.lines == 24 * per_hour + 3 * 2
    assert weekly.lines == 7 * 24 * per_hour + 33 * 2
    assert weekly.errors is not None and daily.errors is not None and hourly.errors is not None
    assert (weekly.errors.errors, daily.errors.errors, hourly.errors.errors) == (33, 3, 0)
    assert weekly.files == ("app.log",) and weekly.first_time == NOW - timedelta(days=7)


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_the_threaded_pipeline_measures_exactly_what_the_serial_one_does(
    tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch, gz: bool
) -> None:
    """Big logs are counted and prefiltered on two threads: same windows, counts and findings."""
    monkeypatch.setattr(sources, "LOCAL_CHUNK", 48 << 10)
    monkeypatch.setattr(sources, "PROBE", 4 << 10)
    write(tmp_path / ("app.log.1.gz" if gz else "app.log"),
          health(NOW - timedelta(days=9), NOW, timedelta(seconds=20)),
          burst(NOW - timedelta(days=5), 30, db_error),
          burst(NOW - timedelta(hours=5), 40, failed_login("203.0.113.9")),
          burst(NOW - timedelta(hours=3), 25, scanner("198.51.100.7")),
          burst(NOW - timedelta(minutes=30), 3, db_error), gz=gz)  # fmt: skip
    windows = [DAY, timedelta(days=7), timedelta(hours=1)]
    serial = scan(tmp_path, engine, windows=windows)
    monkeypatch.setattr(pipeline, "PARALLEL_FROM", 0)
    threaded = scan(tmp_path, engine, windows=windows)
    assert threaded == serial
    assert [w.lines for w in threaded] == [w.lines for w in serial] and serial[0].lines > 0
    assert threaded[0].errors is not None and threaded[0].errors.errors == 33


def test_line_breaks_are_counted_alike_by_every_counter() -> None:
    """NumPy's counter works a 1 MiB slice at a time and the native one in byte lanes summed
    every 255 rounds: breaks on a slice edge count once, and a run of breaks longer than a
    lane can hold is counted whole; views and recycled buffers are read where they start."""
    edge = 1 << 20
    data = bytearray(b"x" * (3 * edge + 12345))
    for at in (0, edge - 1, edge, 2 * edge + 1, len(data) - 1):
        data[at] = 10
    data.extend(b"line\n" * 1000 + b"\n" * 100_000 + b"tail")
    counters = {"python": counting.python_count, "numpy": counting.numpy_counter()}
    native = counting.native
    if native is not None:
        counters["native"] = lambda d: native.count_byte(d, 10)
        if hasattr(native, "count_byte_sse2"):
            counters["native sse2"] = lambda d: native.count_byte_sse2(d, 10)
    buffer = mmap.mmap(-1, len(data) + 7)
    buffer[7:] = bytes(data)
    for name, count in counters.items():
        assert count is not None, name
        assert count(bytes(data)) == 101_005, name
        assert count(memoryview(buffer)[7:]) == 101_005, name
        assert count(memoryview(bytes(data))[edge : edge + 1]) == 1, name  # an odd start and size
        assert count(b"") == 0, name


def test_a_line_with_an_impossible_time_is_untimed_not_a_crash(tmp_path: Path, engine: str) -> None:
    """Damaged lines (a torn write, a bad disk) can carry 11:61 or 2026-13-45: no such moment."""
    good = lms_line(NOW - timedelta(minutes=5), "ERROR", "app.db", "pool timeout")
    (tmp_path / "app.log").write_text(
        f"{good}\n2026-11-28 11:61:00,000 ERROR [app.db] torn\n"
        "2026-13-45 10:00:00,000 ERROR [app.db] torn too\n2026-11-28 11:59:99,000 INFO [x] y\n"
    )
    os.utime(tmp_path / "app.log", (NOW.timestamp(), NOW.timestamp()))
    (window,) = scan(tmp_path, engine)
    assert window.lines == 4
    assert window.errors is not None and window.errors.errors == 3  # placed after the good line
