"""The review probes' parsing and arithmetic: df, k6 summaries (both documented shapes), the
Prometheus API envelope, the new configuration keys."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lms_opscheck.config import ConfigError, load_environment
from lms_opscheck.config.levels import parse_bytes, parse_ratio, percent
from lms_opscheck.config.model import Environment
from lms_opscheck.probes import prometheus
from lms_opscheck.probes.disk import parse_df
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.k6 import p95_trend, parse_summary
from lms_opscheck.probes.nodata import NoData

NOW = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "environments" / "prod.example.yaml"

# k6's documented handleSummary example (results-output/end-of-test/custom-summary, abridged as
# there; comments removed) and a --summary-export file as k6's summary wrapper writes it.
HANDLE_SUMMARY: dict[str, Any] = {
    "root_group": {"path": "", "groups": [], "checks": [], "name": ""},
    "options": {"summaryTrendStats": ["avg", "max", "p(95)", "p(99.99)"]},
    "state": {"testRunDurationMs": 30898.965069},
    "metrics": {
        "http_reqs": {
            "type": "counter",
            "contains": "default",
            "values": {"count": 40, "rate": 19.768856959496336},
        },
        "vus": {"type": "gauge", "contains": "default", "values": {"value": 1, "min": 1, "max": 5}},
        "http_req_duration": {
            "type": "trend",
            "contains": "time",
            "values": {"avg": 268.31137452500013, "max": 846.198634, "p(95)": 590.5},
            "thresholds": {"p(95)<500": {"ok": False}},
        },
        "http_req_duration{staticAsset:yes}": {
            "contains": "time",
            "values": {"min": 135.092841, "avg": 283.67766343333335, "max": 846.198634},
            "thresholds": {"p(99)<250": {"ok": False}},
            "type": "trend",
        },
    },
}
SUMMARY_EXPORT: dict[str, Any] = {
    "root_group": {"name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e"},
    "metrics": {
        "http_req_duration": {
            "avg": 1812.8683514793527,
            "min": 28.1663,
            "med": 836.8969,
            "max": 30050.0404,
            "p(90)": 4663.588480000001,
            "p(95)": 6927.50588999999,
            "p(99)": 12966.030854999995,
            "thresholds": {"p(95)<3000": True},
        },
        "http_req_failed": {
            "passes": 0,
            "fails": 7244,
            "thresholds": {"rate<0.01": False},
            "value": 0,
        },
        "http_reqs": {"count": 11413, "rate": 179.71526784753712},
    },
}


def test_handle_summary_shape_is_read_with_its_ok_flags() -> None:
    summary = parse_summary(HANDLE_SUMMARY, "summary.json", NOW, "k6")
    assert summary.shape == "handleSummary"
    assert summary.p95 == timedelta(milliseconds=590.5) and summary.p99 is None
    assert summary.rate == pytest.approx(19.76886) and summary.requests == 40
    assert summary.duration == timedelta(milliseconds=30898.965069)
    assert [str(t) for t in summary.crossed] == [
        "http_req_duration p(95)<500 crossed",
        "http_req_duration{staticAsset:yes} p(99)<250 crossed",
    ]


def test_summary_export_booleans_mean_crossed() -> None:
    summary = parse_summary(SUMMARY_EXPORT, "export.json", NOW, "k6")
    assert summary.shape == "summary-export"
    assert summary.p99 == timedelta(milliseconds=12966.030854999995)
    assert summary.error_rate == 0
    assert {str(t) for t in summary.thresholds} == {
        "http_req_duration p(95)<3000 crossed",  # true: p95 6.9 s is above 3 s
        "http_req_failed rate<0.01 passed",
    }


@pytest.mark.parametrize(
    "data", [{}, {"metrics": {}}, [], {"metrics": {"x": {"thresholds": {"a": 1}}}}]
)
def test_what_is_not_a_k6_summary_is_unreadable(data: Any) -> None:
    with pytest.raises(Unreadable):
        parse_summary(data, "x.json", NOW, "k6")


def test_the_trend_compares_with_the_median_and_a_floor() -> None:
    def with_p95(ms: float) -> Any:
        data = {"metrics": {"http_req_duration": {"p(95)": ms}}}
        return parse_summary(data, f"{ms}.json", NOW, "k6")

    trend = p95_trend(with_p95(130), [with_p95(100), with_p95(90), with_p95(400)])
    assert trend is not None and trend.baseline == timedelta(milliseconds=100)
    assert trend.regressed(0.2, timedelta(milliseconds=20))
    assert not trend.regressed(0.2, timedelta(milliseconds=50))  # +30 ms is within the floor
    assert p95_trend(with_p95(130), []) is None


def test_df_output_is_parsed_with_mount_points_holding_spaces() -> None:
    text = (
        "Filesystem     1-blocks    Used Available Capacity Mounted on\n"
        "tmpfs           4194304 3997696    196608      96% /srv/lms uploads\n"
    )
    usage = parse_df(text, "uploads", "/srv/lms uploads on local://")
    assert usage.mount == "/srv/lms uploads"
    assert usage.ratio == pytest.approx(3997696 / (3997696 + 196608))
    with pytest.raises(Unreadable, match="unexpected df output"):
        parse_df("df: /nowhere: No such file or directory\n", "x", "/nowhere")


def test_no_series_and_nan_are_no_data() -> None:
    empty = {"resultType": "vector", "result": []}
    nan = {"resultType": "vector", "result": [{"metric": {}, "value": [1795848034.5, "NaN"]}]}
    for data in (empty, nan):
        with pytest.raises(NoData, match="no data"):
            prometheus.instant_value(data, "http://p/api/v1/query", "q")
    two = {"resultType": "vector", "result": [{"metric": {"a": "1"}, "value": [1, "1"]}] * 2}
    with pytest.raises(Unreadable, match="returned 2 series"):
        prometheus.instant_value(two, "http://p", "q")
    inf = {"resultType": "vector", "result": [{"metric": {}, "value": [1795848034.5, "+Inf"]}]}
    assert prometheus.instant_value(inf, "http://p", "q").value == float("inf")


def test_targets_are_filtered_by_job_and_rules_report_evaluation_errors() -> None:
    data = {
        "activeTargets": [
            {
                "labels": {"job": "lms-api", "instance": "api-1:8000"},
                "scrapePool": "lms-api",
                "scrapeUrl": "http://api-1:8000/metrics",
                "lastError": "connection refused",
                "lastScrape": "2026-11-28T06:40:22.490123456Z",
                "health": "down",
            },
            {"labels": {"job": "node"}, "scrapePool": "node", "health": "up"},
        ]
    }
    (target,) = prometheus.targets(data, "p", ["lms-api"])
    assert str(target) == "http://api-1:8000/metrics (lms-api) is down: connection refused"
    assert target.last_scrape == "2026-11-28T06:40:22Z"
    rules = prometheus.rules(
        {"groups": [{"name": "g", "rules": [
            {"type": "alerting", "name": "A", "health": "ok"},
            {"type": "recording", "name": "r", "health": "err", "lastError": "bad"},
        ]}]},
        "p",
    )  # fmt: skip
    assert (rules.alerting, rules.recording, rules.broken) == (1, 1, ("g/r: bad",))


def test_ratios_sizes_and_levels_read_as_operators_write_them() -> None:
    assert parse_ratio("80%") == pytest.approx(0.8) and parse_ratio(0.95) == 0.95
    assert parse_bytes("512MiB") == 512 * 1024**2 and parse_bytes(1024) == 1024
    assert percent(0.999) == "99.9%" and percent(0.95745) == "95.75%"
    for bad in ("eighty", -1, True):
        with pytest.raises(ValueError):
            parse_ratio(bad)


def test_promql_templates_take_the_selector_and_window() -> None:
    env = Environment.model_validate(
        {"name": "t", "targets": {"prometheus": {"url": "https://prom:9090/", "jobs": ["lms.api"]}}}
    )
    target = env.targets.prometheus
    assert target is not None and target.url == "https://prom:9090"
    query = target.query("error_rate")
    assert 'job=~"lms\\\\.api",path!="/metrics",status=~"5.."}[86400s]' in query
    assert "[2592000s]" in target.query("availability")


@pytest.mark.parametrize(
    ("yaml", "problem"),
    [
        (
            "targets: {prometheus: {url: 'http://u:p@prom'}}",
            "not an http(s) URL without credentials",
        ),
        (
            "targets: {prometheus: {url: 'http://p', jobs: ['a b']}}",
            "is not a plain scrape job name",
        ),
        ("policy: {capacity: {disk: {warning: 95%, critical: 90%}}}", "warning level is above"),
        (
            "targets: {volumes: [{name: d, path: /, host: db-9}]}",
            "names a host that is not under hosts",
        ),
        (
            "compliance: {retention_rules: [{table: 'a; drop', column: c, max_age: 1d}]}",
            "compliance.retention_rules.0.table",
        ),
    ],
)
def test_bad_review_configuration_is_one_line(tmp_path: Path, yaml: str, problem: str) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(f"name: t\n{yaml}\n")
    with pytest.raises(ConfigError) as raised:
        load_environment(str(path), environ={})
    assert problem in str(raised.value) and "\n" not in str(raised.value)


def test_the_documented_example_environment_loads() -> None:
    environ = {name: "example-secret" for name in re.findall(r"\$\{(LMS_\w+)", EXAMPLE.read_text())}
    env = load_environment(str(EXAMPLE), environ=environ)
    assert env.targets.prometheus is not None and env.artifacts.k6 is not None
    assert env.ownership.functions and env.compliance and len(env.targets.volumes) == 3
