"""The weekly performance review fails for a stale, failing, slow, short or regressed k6 summary,
in both shapes k6 writes; no summary at all is never a pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.k6_shapes import handle_summary, summary_export, write
from tests.support.runner import SuiteRun, run_suite, write_env

CHECKS = "checks/test_performance.py"
NOW = datetime.now(UTC)
STAMPED = r"k6_(?P<stamp>\d{8}_\d{6})\.json"


def name(moment: datetime) -> str:
    return f"k6_{moment:%Y%m%d_%H%M%S}.json"


def review(tmp_path: Path, k6_dir: Path, **k6: Any) -> SuiteRun:
    location = {"dir": str(k6_dir), "pattern": STAMPED, "expected_peak_rps": 20, **k6}
    config = {"name": "selftest", "artifacts": {"k6": location}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    env_file = write_env(tmp_path / "env.yaml", config)
    return run_suite("-m", "weekly", f"--env={env_file}", CHECKS, out=tmp_path / "out")


def outcomes(run: SuiteRun) -> dict[str, str]:
    return {r.properties["control_id"]: r.outcome for r in run.checks.values()}


def weekly_history(directory: Path, newest: dict[str, Any], weeks: int = 3) -> None:
    for week in range(1, weeks + 1):
        write(directory, name(NOW - timedelta(weeks=week, hours=2)), handle_summary())
    write(directory, name(NOW - timedelta(hours=2)), newest)


def test_a_recent_passing_summary_passes_in_both_shapes(tmp_path: Path) -> None:
    for shape, convert in (("handle", dict), ("export", summary_export)):
        k6_dir = tmp_path / shape / "k6"
        weekly_history(k6_dir, convert(handle_summary()))
        run = review(tmp_path / shape, k6_dir)
        assert set(outcomes(run).values()) == {"passed"}, (shape, run.output)


def test_a_stale_summary_fails_prf01_with_its_age(tmp_path: Path) -> None:
    k6_dir = tmp_path / "k6"
    write(k6_dir, name(NOW - timedelta(days=10)), handle_summary())
    result = review(tmp_path, k6_dir).only("test_newest_k6_summary_is_recent")
    assert result.outcome == "failed"
    assert f"k6 summary {name(NOW - timedelta(days=10))} in {k6_dir} is 10d" in result.message
    assert "the load test must run at least every 7d" in result.message


def test_the_mtime_dates_a_summary_without_a_stamp(tmp_path: Path) -> None:
    k6_dir = tmp_path / "k6"
    write(k6_dir, "summary.json", handle_summary(), mtime=NOW - timedelta(days=8, hours=1))
    result = review(tmp_path, k6_dir, pattern=r".+\.json").only("test_newest_k6_summary_is_rec")
    assert result.outcome == "failed" and "summary.json in" in result.message
    assert "is 8d1h" in result.message


def test_a_failing_summary_fails_its_thresholds_and_the_slo(tmp_path: Path) -> None:
    slow = handle_summary(p_ms=950.0, failed=30)  # p95 ~ 950 ms, 5 % failed
    exported = summary_export(slow)
    assert exported["metrics"]["http_req_duration"]["thresholds"] == {"p(95)<800": True}
    k6_dir = tmp_path / "k6"
    weekly_history(k6_dir, exported)
    run = review(tmp_path, k6_dir)
    thresholds = run.only("test_newest_k6_summary_passed_its_thresholds")
    assert thresholds.outcome == "failed"
    assert "3 of 3 threshold(s) crossed in k6 summary" in thresholds.message
    assert "http_req_duration p(95)<800 crossed" in thresholds.message
    slo = run.only("test_newest_k6_summary_meets_the_slo")
    assert slo.outcome == "failed"
    assert "misses the SLO: p95 9" in slo.message and "(SLO < 800ms)" in slo.message
    assert "error rate 5% (SLO < 1%)" in slo.message


def test_no_summary_at_all_is_never_a_pass(tmp_path: Path) -> None:
    k6_dir = tmp_path / "k6"
    k6_dir.mkdir()
    run = review(tmp_path, k6_dir)
    assert set(outcomes(run).values()) == {"failed"}, run.output
    for result in run.checks.values():
        assert f"no k6 summary matching {STAMPED!r} in {k6_dir}" in result.message
    missing = review(tmp_path / "missing", tmp_path / "nowhere")
    assert set(outcomes(missing).values()) == {"error"}, missing.output
    assert "cannot list the k6 summaries" in missing.only("test_newest_k6_summary_is_rec").message


def test_a_summary_without_thresholds_gates_nothing(tmp_path: Path) -> None:
    data = handle_summary()
    for metric in data["metrics"].values():
        metric.pop("thresholds", None)
    k6_dir = tmp_path / "k6"
    weekly_history(k6_dir, data)
    result = review(tmp_path, k6_dir).only("test_newest_k6_summary_passed_its_thresholds")
    assert result.outcome == "failed" and "declares no threshold" in result.message


def test_too_little_headroom_fails_prf04(tmp_path: Path) -> None:
    k6_dir = tmp_path / "k6"
    weekly_history(k6_dir, handle_summary(count=400, seconds=20.0))  # 20 requests/s
    result = review(tmp_path, k6_dir, headroom_margin="30%").only("test_load_test_sustained")
    assert result.outcome == "failed"
    assert "sustained 20.0 requests/s; the expected peak is 20/s, so with a 30% margin" in (
        result.message
    )
    assert "at least 26.0/s is needed" in result.message


def test_a_p95_regression_against_the_median_fails_prf05(tmp_path: Path) -> None:
    k6_dir = tmp_path / "k6"
    weekly_history(k6_dir, handle_summary(p_ms=400.0))  # previous weeks ~120 ms
    result = review(tmp_path, k6_dir).only("test_p95_did_not_regress")
    assert result.outcome == "failed"
    assert "above the median 11" in result.message
    assert "of the 3 previous summaries; tolerance is 20% and 50ms" in result.message


def test_the_first_summary_has_no_trend_yet(tmp_path: Path) -> None:
    k6_dir = tmp_path / "k6"
    write(k6_dir, name(NOW - timedelta(hours=1)), handle_summary())
    result = review(tmp_path, k6_dir).only("test_p95_did_not_regress")
    assert result.outcome == "skipped"
    assert "no previous k6 summary with a p95" in result.message
