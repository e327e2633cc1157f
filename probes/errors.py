"""Why a measurement could not be taken (an *error* outcome, distinct from a *failed* check).

MeasurementError            could not measure; names the target and what went wrong
 ├── Unreachable            connection refused, unknown host, connect timeout
 ├── NoAnswer               connected (or started) but no answer within the timeout
 ├── Rejected               the target refused our credentials or our request
 └── Unreadable             an artifact exists but cannot be read or parsed
"""

from __future__ import annotations

from lms_opscheck.probes.redaction import redact


class MeasurementError(Exception):
    category = "could not measure"

    def __init__(self, target: str, problem: str) -> None:
        # Library messages can quote a DSN or URL: scrub before the text goes anywhere.
        self.target = redact(target)
        self.problem = redact(problem)
        super().__init__(f"{self.target}: {self.problem}")


class Unreachable(MeasurementError):
    pass


class NoAnswer(MeasurementError):
    pass


class Rejected(MeasurementError):
    pass


class Unreadable(MeasurementError):
    pass
