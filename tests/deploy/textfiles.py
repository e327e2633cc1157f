"""Textfiles written by the suite's own writer, their samples as promtool input series, and the
metric names a PromQL expression selects.

The alert rules' unit tests (deploy/prometheus/opscheck-rules.test.yml) must speak about the
series the suite really writes: ``SCENARIO`` holds the runs those tests describe, rendered with
``lms_opscheck.reports.textfile.render`` at Unix time 0 (promtool's clock starts there).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from lms_opscheck.record import CheckRecord, Results, RunInfo, iso, summarize
from lms_opscheck.reports import textfile
from tests.support.sample_runs import NOW, check

#: What node_exporter adds when Prometheus scrapes it; not part of the textfile.
SCRAPE_LABELS = frozenset({"instance", "job"})
API_1 = "https://lms-api-1.internal:8000"
API_2 = "https://lms-api-2.internal:8000"

Series = tuple[str, frozenset[tuple[str, str]]]


def results(env: str, checks: Iterable[CheckRecord], interrupted: str | None = None) -> Results:
    """One run of ``env`` as the collector records it."""
    records = tuple(checks)
    run = RunInfo(
        id=f"{env}-run",
        env=env,
        env_identity=f"{env}@0123456789ab",
        started_at=iso(NOW),
        finished_at=iso(NOW + timedelta(seconds=42)),
        suite_version="0.1.0",
        selection="daily",
        host="ops-runner-1",
        exit_status=2 if interrupted else 1,
        interrupted=interrupted,
    )
    catalogue = tuple({c.control.id: c.control for c in records}.values())
    return Results(run=run, checks=records, catalogue=catalogue, summary=summarize(records))


#: prod: two critical controls down (one failed, one replica unmeasurable), one replica up,
#: two non-critical findings. staging: healthy but interrupted by SIGTERM.
SCENARIO = (
    results(
        "prod",
        [
            check("BKP-01", "failed", severity="critical", message="31h12m old; RPO is 24h"),
            check("BKP-02", "failed", severity="high", message="mtime off by 2h"),
            check("BKP-07", "failed", severity="medium", message="3 backups past retention"),
            check("HLT-01", "error", severity="critical", subject=API_2, message="refused"),
            check("HLT-01", "passed", severity="critical", subject=API_1),
            check("HLT-03", "passed", severity="critical"),
        ],
    ),
    results("staging", [check("HLT-03", "passed", severity="critical")], interrupted="SIGTERM"),
)


def scenario_textfiles() -> dict[str, str]:
    return {r.run.env: textfile.render(r, now=0) for r in SCENARIO}


def samples(text: str) -> dict[Series, float]:
    """Every sample of a textfile (exposition format), by metric name and label set."""
    found: dict[Series, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def parse_series(series: str) -> Series:
    """A promtool ``series`` selector (``name{a="b"}``) as a name and label set."""
    ((key, _),) = samples(series + " 0\n").items()
    return key


def without_scrape_labels(key: Series) -> Series:
    name, labels = key
    return name, frozenset((k, v) for k, v in labels if k not in SCRAPE_LABELS)


def first_value(values: str) -> float:
    """The first value of a promtool expanding notation (``0x120``, ``1+0x5 _ stale``)."""
    match = re.match(r"\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)", values)
    assert match, f"no first value in {values!r}"
    return float(match.group(1))


def input_series(text: str, repeat: int, extra_labels: dict[str, str]) -> list[dict[str, str]]:
    """The textfile's samples as promtool input series, each constant for ``repeat`` steps."""
    out = []
    for (name, labels), value in samples(text).items():
        selector = ",".join(
            f'{k}="{_escape(v)}"' for k, v in sorted({**dict(labels), **extra_labels}.items())
        )
        out.append({"series": f"{name}{{{selector}}}", "values": f"{value!r}x{repeat}"})
    return out


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metric_names(text: str) -> set[str]:
    return {name for name, _ in samples(text)}


#: Words of PromQL that are not metric names.
PROMQL_WORDS = frozenset(
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "inf",
        "nan",
    ]
)


def metrics_in(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers that are not functions, keywords, label
    names (inside {} or the parentheses of by/on/...), strings or durations."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for token in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if not expr[token.end() :].lstrip().startswith("("):  # a function call
            names.add(token.group())
    return {n for n in names if n.lower() not in PROMQL_WORDS}
