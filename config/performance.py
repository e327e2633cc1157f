"""Performance review in an environment: where k6 summaries are, and how they are judged (2.2)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator

from lms_opscheck.config.durations import Duration
from lms_opscheck.config.levels import Frozen, Ratio


class K6Summaries(Frozen):
    """A local folder of k6 end-of-test summaries (``--summary-export`` or ``handleSummary``)."""

    dir: str
    #: file names to read; a ``(?P<stamp>YYYYMMDD_HHMMSS)`` group (UTC) dates a summary,
    #: otherwise its mtime does
    pattern: str = r".+\.json"
    max_age: Duration = timedelta(days=7)
    #: expected peak load of production, requests per second; absent: headroom is not checked
    expected_peak_rps: Annotated[float, Field(gt=0)] | None = None
    #: the test must have sustained the peak plus this margin (0.3: 130 % of the peak)
    headroom_margin: Ratio = 0.3
    #: the newest p95 is compared with the median of this many previous summaries
    trend_window: Annotated[int, Field(ge=1)] = 4
    #: a p95 more than this much above that median is a regression...
    trend_tolerance: Ratio = 0.2
    #: ...and more than this much in absolute terms (loopback-fast p95s jitter by 20 % or more)
    trend_min_increase: Duration = timedelta(milliseconds=50)
    #: summaries read at most (newest first): a folder of years of summaries stays cheap
    max_files: Annotated[int, Field(ge=1)] = 200

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return pattern
