"""k6 end-of-test summaries: both JSON shapes k6 writes, read into one ``K6Summary``.

Shapes (from k6's documentation and its summary wrapper, js/summary-wrapper.js; k6 itself is not
installable here):

* ``handleSummary`` data (``JSON.stringify(data)``): ``metrics.<name>`` is ``{type, contains,
  values: {...}, thresholds: {"p(95)<500": {ok: bool}}}``; ``state.testRunDurationMs``.
* ``--summary-export`` (the legacy shape): ``metrics.<name>`` holds the values themselves
  (``avg``, ``p(95)``..., a rate metric's ``value``) and ``thresholds: {"p(95)<500": bool}``
  where the boolean is ``!ok`` — **true means the threshold was crossed**.

Trend values are milliseconds (k6's default ``summaryTimeUnit``).
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from lms_opscheck.probes.errors import Unreadable

#: A summary is a few kilobytes; a per-sample ``--out json`` file put there by mistake is not.
MAX_SUMMARY_BYTES = 16 * 1024 * 1024
Shape = Literal["handleSummary", "summary-export"]


@dataclass(frozen=True)
class Threshold:
    metric: str
    expression: str
    ok: bool

    def __str__(self) -> str:
        return f"{self.metric} {self.expression} {'passed' if self.ok else 'crossed'}"


@dataclass(frozen=True)
class K6Summary:
    name: str
    taken_at: datetime
    shape: Shape
    p95: timedelta | None
    p99: timedelta | None
    error_rate: float | None  # http_req_failed
    requests: int | None  # http_reqs count
    rate: float | None  # http_reqs per second over the test
    duration: timedelta | None  # handleSummary only
    thresholds: tuple[Threshold, ...]

    @property
    def crossed(self) -> list[Threshold]:
        return [t for t in self.thresholds if not t.ok]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class SummaryFile:
    path: Path
    taken_at: datetime


@dataclass(frozen=True)
class Summaries:
    where: str
    pattern: str
    files: tuple[SummaryFile, ...]  # oldest first, at most max_files
    measured_at: datetime

    @property
    def newest(self) -> SummaryFile | None:
        usable = [f for f in self.files if f.taken_at <= self.measured_at + timedelta(hours=1)]
        return usable[-1] if usable else None

    def previous(self, count: int) -> list[SummaryFile]:
        newest = self.newest
        if newest is None:
            return []
        older = [f for f in self.files if f.taken_at < newest.taken_at]
        return older[-count:]


def list_summaries(directory: Path, pattern: str, max_files: int) -> Summaries:
    """Summary files in ``directory`` whose name matches ``pattern``, dated by their ``stamp``
    group (UTC) or else their mtime; Unreadable when the folder cannot be listed."""
    where = str(directory)
    compiled = re.compile(pattern)
    try:
        entries = [p for p in directory.iterdir() if p.is_file() and compiled.fullmatch(p.name)]
    except OSError as exc:
        raise Unreadable(where, f"cannot list the k6 summaries: {exc.strerror or exc}") from None
    files = []
    for path in entries:
        match = compiled.fullmatch(path.name)
        stamp = match.groupdict().get("stamp") if match else None
        if stamp:
            taken = datetime.strptime(stamp, "%Y%m%d_%H%M%S").replace(tzinfo=UTC)
        else:
            taken = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        files.append(SummaryFile(path, taken))
    files.sort(key=lambda f: (f.taken_at, f.path.name))
    return Summaries(where, pattern, tuple(files[-max_files:]), datetime.now(UTC))


def read_summary(file: SummaryFile) -> K6Summary:
    where = str(file.path)
    try:
        if file.path.stat().st_size > MAX_SUMMARY_BYTES:
            raise Unreadable(where, f"larger than {MAX_SUMMARY_BYTES} bytes: not a k6 summary")
        data = json.loads(file.path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise Unreadable(where, f"not a readable JSON summary: {exc}") from None
    return parse_summary(data, file.path.name, file.taken_at, where)


def parse_summary(data: Any, name: str, taken_at: datetime, where: str) -> K6Summary:
    metrics = data.get("metrics") if isinstance(data, dict) else None
    if not isinstance(metrics, dict) or not metrics:
        raise Unreadable(where, "no metrics object: not a k6 end-of-test summary")
    shape: Shape = (
        "handleSummary"
        if any(isinstance(m, dict) and "values" in m for m in metrics.values())
        else "summary-export"
    )
    duration = _values(metrics, "http_req_duration", shape)
    failed = _values(metrics, "http_req_failed", shape)
    reqs = _values(metrics, "http_reqs", shape)
    state = data.get("state") if isinstance(data, dict) else None
    run_ms = state.get("testRunDurationMs") if isinstance(state, dict) else None
    return K6Summary(
        name=name,
        taken_at=taken_at,
        shape=shape,
        p95=_ms(duration.get("p(95)")),
        p99=_ms(duration.get("p(99)")),
        error_rate=_number(failed.get("rate", failed.get("value"))),
        requests=int(reqs["count"]) if _number(reqs.get("count")) is not None else None,
        rate=_number(reqs.get("rate")),
        duration=_ms(run_ms),
        thresholds=tuple(_thresholds(metrics, shape, where)),
    )


def _values(metrics: dict[str, Any], name: str, shape: Shape) -> dict[str, Any]:
    metric = metrics.get(name)
    if not isinstance(metric, dict):
        return {}
    values = metric.get("values") if shape == "handleSummary" else metric
    return values if isinstance(values, dict) else {}


def _thresholds(metrics: dict[str, Any], shape: Shape, where: str) -> list[Threshold]:
    found = []
    for metric, body in sorted(metrics.items()):
        declared = body.get("thresholds") if isinstance(body, dict) else None
        for expression, result in (declared or {}).items():
            if shape == "handleSummary" and isinstance(result, dict) and "ok" in result:
                ok = bool(result["ok"])
            elif shape == "summary-export" and isinstance(result, bool):
                ok = not result  # k6 writes !ok here: true means crossed
            else:
                raise Unreadable(where, f"threshold {metric} {expression!r} has no result")
            found.append(Threshold(metric, expression, ok))
    return found


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _ms(value: Any) -> timedelta | None:
    number = _number(value)
    return timedelta(milliseconds=number) if number is not None else None


@dataclass(frozen=True)
class Trend:
    newest: timedelta
    baseline: timedelta  # median p95 of the previous summaries
    compared: tuple[str, ...]  # names of the summaries in the median
    ratio: float  # newest / baseline

    def regressed(self, tolerance: float, min_increase: timedelta) -> bool:
        return self.ratio > 1 + tolerance and self.newest - self.baseline > min_increase


def p95_trend(newest: K6Summary, previous: Sequence[K6Summary]) -> Trend | None:
    """The newest p95 against the median p95 of ``previous``; None without comparable ones."""
    usable = [s for s in previous if s.p95 is not None]
    if newest.p95 is None or not usable:
        return None
    seconds = statistics.median(s.p95.total_seconds() for s in usable if s.p95 is not None)
    baseline = timedelta(seconds=seconds)
    ratio = newest.p95 / baseline if baseline else float("inf")
    return Trend(newest.p95, baseline, tuple(s.name for s in usable), ratio)
