"""Human durations in configuration: ``800ms``, ``45s``, ``60m``, ``24h``, ``30d``, ``2w``."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}
#: Far beyond any policy, and far enough from timedelta's limits that ``now - duration`` works.
MAXIMUM = timedelta(days=100 * 366)
#: ASCII digits only: "３０s" (full-width) is a typo, not thirty seconds.
_DURATION = re.compile(r"\s*(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>ms|s|m|h|d|w)\s*")


def parse_duration(value: Any) -> timedelta:
    """A timedelta from ``"24h"``-style text or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 15m, 24h or 30d")
    try:
        if isinstance(value, int | float):
            seconds = float(value)
        elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
            seconds = float(match["number"]) * _UNITS[match["unit"]].total_seconds()
        else:
            raise ValueError("expected a duration such as 30s, 15m, 24h or 30d")
    except OverflowError:  # float() of an integer with hundreds of digits
        seconds = math.inf
    if math.isnan(seconds):
        raise ValueError("expected a duration such as 30s, 15m, 24h or 30d")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    if seconds > MAXIMUM.total_seconds():  # also .inf, which timedelta() cannot hold
        raise PydanticCustomError("duration_range", "duration out of range (at most 100 years)")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact rendering an operator reads at a glance: ``31h12m``, ``850ms``, ``2d``."""
    total_ms = round(value.total_seconds() * 1000)
    sign = "-" if total_ms < 0 else ""
    total_ms = abs(total_ms)
    if total_ms < 1000:
        return f"{sign}{total_ms}ms"
    if total_ms < 60_000:
        seconds = total_ms / 1000
        return f"{sign}{seconds:.1f}s" if total_ms % 1000 else f"{sign}{int(seconds)}s"
    minutes, _ = divmod(total_ms // 1000, 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return sign + ("".join(parts) or "0m")


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
