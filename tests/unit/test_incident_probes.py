"""Incident triage's pure parts: its configuration, the newest error lines, lockout counters,
what an object store's answer means, and the broken-first order of the results."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from lms_opscheck.config.incident import IncidentTriage, ObjectStorage, RedisKeys
from lms_opscheck.probes.logs.analysis import NEWEST, ErrorTally
from lms_opscheck.probes.logs.lines import Record
from lms_opscheck.probes.object_storage import BucketAnswer
from lms_opscheck.probes.redis_keys import _reached


def test_defaults_are_the_lms_keys_and_need_no_section() -> None:
    triage = IncidentTriage()
    assert triage.redis_keys.lockout_patterns == ["*auth:failed_attempts:ip:*"]
    assert triage.redis_keys.rate_limit_patterns == ["ratelimit:*"]
    assert triage.pool_size is None and triage.object_storage is None
    assert triage.max_lock_wait == timedelta(seconds=30)


@pytest.mark.parametrize("pattern", ["*", "", "a\nb"])
def test_a_pattern_matching_everything_or_nothing_is_refused(pattern: str) -> None:
    with pytest.raises(ValidationError):
        RedisKeys(lockout_patterns=[pattern])


def test_bucket_url_in_path_and_virtual_host_style() -> None:
    path = ObjectStorage(endpoint="https://s3.example:9000/", bucket="lms-files")
    assert path.url == "https://s3.example:9000/lms-files"
    virtual = ObjectStorage(endpoint="https://s3.eu-west-1.amazonaws.com", bucket="lms-files",
                            path_style=False)  # fmt: skip
    assert virtual.url == "https://lms-files.s3.eu-west-1.amazonaws.com"
    with pytest.raises(ValidationError):
        ObjectStorage(endpoint="https://key:secret@s3.example", bucket="lms-files")


@pytest.mark.parametrize(
    ("status", "reachable", "meaning"),
    [(403, True, "refuses anonymous"), (200, True, "answers"), (404, False, "no such bucket"),
     (503, False, "failing"), (301, False, "region eu-west-1")],
)  # fmt: skip
def test_what_an_answer_of_the_store_means(status: int, reachable: bool, meaning: str) -> None:
    answer = BucketAnswer("http://s3/lms-files", status, timedelta(0), "", "eu-west-1")
    assert answer.reachable is reachable
    assert meaning in answer.meaning()


def test_a_lockout_counter_counts_from_the_lms_limit() -> None:
    rules = RedisKeys(locked_at=5)
    assert _reached(b"5", rules) and _reached("7", rules)
    assert not _reached(b"4", rules) and not _reached(None, rules)
    assert _reached(b"locked", rules)  # not a counter: the key marks the lockout


def test_the_newest_error_lines_are_kept_in_time_order() -> None:
    tally = ErrorTally(["ERROR", "CRITICAL"], top=5)
    for i in range(NEWEST + 10):
        tally.add(Record("lms", 1_700_000_000.0 + i, "ERROR", "app.db", f"boom {i}"), 1e9 + i)
    tally.add(Record("lms", 1e9, "INFO", "app.request", "fine"), 2e9)
    newest = tally.summary().newest
    assert len(newest) == NEWEST
    assert newest[-1].endswith("ERROR [app.db] boom 59") and "boom 10" in newest[0]
    assert newest[-1].startswith("2001-09-09 01:47:39 UTC")
