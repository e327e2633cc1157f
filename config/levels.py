"""Shared configuration types of the review checks: ratios, byte sizes and two-level bounds."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from lms_opscheck.config.durations import Duration

_PERCENT = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*%\s*$")
_BYTES = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>B|KiB|MiB|GiB|TiB)?\s*$")
_BYTE_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}


def parse_ratio(value: Any) -> float:
    """A fraction: ``0.8`` or ``"80%"``; never negative, never NaN."""
    if isinstance(value, bool):
        raise ValueError("expected a fraction such as 0.8 or a percentage such as 80%")
    if isinstance(value, str) and (match := _PERCENT.match(value)):
        number = float(match["number"]) / 100
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise ValueError("expected a fraction such as 0.8 or a percentage such as 80%")
    if not math.isfinite(number) or number < 0:
        raise ValueError("expected a fraction such as 0.8 or a percentage such as 80%")
    return number


def parse_bytes(value: Any) -> int:
    """A size: a number of bytes, or ``"512MiB"``-style text (B, KiB, MiB, GiB, TiB)."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 512MiB or 10GiB")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and (match := _BYTES.match(value)):
        return int(float(match["number"]) * _BYTE_UNITS[match["unit"]])
    raise ValueError("expected a size such as 512MiB or 10GiB")


Ratio = Annotated[float, BeforeValidator(parse_ratio)]
Bytes = Annotated[int, BeforeValidator(parse_bytes)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Levels(Frozen):
    """Warning and critical ceilings: at or above ``warning`` warns, at or above ``critical``
    fails (``probes.thresholds.TwoLevel`` with ``lower_is_worse=False``). A warning bound above
    the critical one is refused."""

    @model_validator(mode="after")
    def _ordered(self) -> _Levels:
        warning, critical = getattr(self, "warning"), getattr(self, "critical")  # noqa: B009
        if warning > critical:
            raise ValueError("the warning level is above the critical level")
        return self


class RatioLevels(_Levels):
    warning: Ratio
    critical: Ratio


class ByteLevels(_Levels):
    warning: Bytes
    critical: Bytes


class CountLevels(_Levels):
    warning: Annotated[int, Field(ge=0)]
    critical: Annotated[int, Field(ge=0)]


class DurationLevels(_Levels):
    warning: Duration
    critical: Duration


def percent(ratio: float) -> str:
    """``0.8123`` → ``81.23%``, ``0.999`` → ``99.9%`` (messages; evidence keeps the ratio)."""
    return f"{ratio * 100:.4g}%"


def size(number: float) -> str:
    """Bytes as an operator reads them: ``3.8 MiB``, ``12 GiB``."""
    for unit, scale in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(number) >= scale:
            return f"{number / scale:.1f} {unit}"
    return f"{int(number)} B"
