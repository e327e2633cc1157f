"""Two-level thresholds: a value is ok, at *warning* level, or at *critical* level."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar


class _Comparable(Protocol):
    def __le__(self, other: Any, /) -> bool: ...
    def __ge__(self, other: Any, /) -> bool: ...


T = TypeVar("T", bound=_Comparable)


class Level(Enum):
    OK = "ok"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class TwoLevel(Generic[T]):
    """Warning and critical bounds of one metric.

    ``lower_is_worse`` (the default) suits what *remains*: TLS days left, time to a waiver's expiry
    (``TwoLevel(warning=7d, critical=0d)``: warn at 7 days left or less, critical once none are
    left). With ``lower_is_worse=False`` the bounds are ceilings: latency, disk usage, age.
    """

    warning: T
    critical: T
    lower_is_worse: bool = True

    def __post_init__(self) -> None:
        ordered = (
            self.critical <= self.warning if self.lower_is_worse else self.warning <= self.critical
        )
        if not ordered:
            raise ValueError(f"the warning bound {self.warning} is beyond critical {self.critical}")

    def level(self, value: T) -> Level:
        if self._reached(value, self.critical):
            return Level.CRITICAL
        if self._reached(value, self.warning):
            return Level.WARNING
        return Level.OK

    def describe(self, level: Level) -> str:
        """The bound a level stands for, as a failure message quotes it: ``<= 7d``."""
        sign = "<=" if self.lower_is_worse else ">="
        bound = self.critical if level is Level.CRITICAL else self.warning
        return f"{sign} {bound}"

    def _reached(self, value: T, bound: T) -> bool:
        return value <= bound if self.lower_is_worse else value >= bound
