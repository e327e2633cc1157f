"""The compliance report from run folders written by the real writer, and its coverage matrix."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lms_opscheck.reports import compliance
from lms_opscheck.reports.coverage import Entry, load_matrix, load_sections, validate
from lms_opscheck.reports.runs import RunFolderError, discover_history, load_run
from tests.support.sample_runs import NOW, check, sample_history, write_run

RUNBOOK = Path(__file__).resolve().parents[3] / "shared" / "runbook.md"


def build(*given: Path, history: bool = True) -> dict[str, Any]:
    runs = [load_run(p) for p in given]
    older = discover_history(runs, NOW - timedelta(weeks=20)).runs if history else []
    return compliance.build(runs, older, now=NOW)


def env_of(data: dict[str, Any]) -> dict[str, Any]:
    assert len(data["environments"]) == 1
    section: dict[str, Any] = data["environments"][0]
    return section


def statuses(section: dict[str, Any]) -> dict[str, str]:
    return {row.control.id: row.status for row in section["controls"]}


def test_a_critical_failure_at_the_end_of_the_week_is_not_compliant(tmp_path: Path) -> None:
    section = env_of(build(sample_history(tmp_path)))
    assert section["status"] == "not compliant"
    assert [r["id"] for r in section["runs"]] == ["mon", "weekly"]
    assert statuses(section)["BKP-01"] == "failing"
    assert statuses(section)["BKP-02"] == "waived"
    areas = {a["name"]: a["status"] for a in section["areas"]}
    assert areas["Backups"] == "not compliant"


def test_a_failure_on_monday_resolved_on_tuesday_stays_visible(tmp_path: Path) -> None:
    monday, tuesday = NOW - timedelta(days=4), NOW - timedelta(days=3)
    write_run(tmp_path, "mon", monday, [check("DRL-01", "failed", message="drill is 9d old")])
    newest = write_run(tmp_path, "tue", tuesday, [check("DRL-01", "passed")])
    section = env_of(build(newest))
    (incident,) = section["incidents"]
    assert incident["incident"].message == "drill is 9d old"
    assert incident["first_seen"].startswith(monday.strftime("%Y-%m-%d"))
    assert incident["resolved"].startswith(tuesday.strftime("%Y-%m-%d"))
    assert section["status"] == "compliant with exceptions"
    html, markdown = compliance.render(build(newest))
    for text in (html, markdown):
        assert "drill is 9d old" in text and "No check failed" not in text


def test_a_period_of_daily_runs_only_is_not_compliant(tmp_path: Path) -> None:
    """The weekly controls (drill, governance) were never measured: no evidence, not green."""
    weekly = [check("DRL-01", "passed"), check("GOV-01", "passed")]
    write_run(tmp_path, "w", NOW - timedelta(days=20), weekly)  # older than the period
    for day in range(6, -1, -1):
        newest = write_run(
            tmp_path,
            f"d{day}",
            NOW - timedelta(days=day),
            [check("HLT-01", "passed")],
            selection="daily",
        )
    section = env_of(build(newest))
    assert statuses(section)["HLT-01"] == "passed"
    assert statuses(section)["DRL-01"] == "no evidence"
    assert section["status"] == "incomplete evidence"
    areas = {a["name"]: a["status"] for a in section["areas"]}
    assert areas["Restore drill"] == "no evidence" and areas["Governance"] == "no evidence"


def test_a_single_daily_run_shows_the_days_without_evidence(tmp_path: Path) -> None:
    newest = write_run(tmp_path, "d", NOW, [check("HLT-01", "passed")], selection="daily")
    section = env_of(build(newest))
    row = next(r for r in section["controls"] if r.control.id == "HLT-01")
    assert (row.status, row.days_with_evidence) == ("gaps", 1)
    assert section["status"] == "incomplete evidence"


def test_runs_merge_by_identity_never_by_a_shared_name(tmp_path: Path) -> None:
    write_run(
        tmp_path,
        "copy",
        NOW - timedelta(days=1),
        [check("HLT-01", "failed")],
        identity="prod@feedfeedfeed",
    )
    newest = write_run(tmp_path, "real", NOW, [check("HLT-01", "passed")])
    runs = [load_run(newest)]
    found = discover_history(runs, NOW - timedelta(weeks=2))
    assert found.runs == [] and found.other_environments == 1
    section = env_of(compliance.build(runs, found.runs, now=NOW))
    assert section["incidents"] == []


def test_runs_that_measured_nothing_are_left_out(tmp_path: Path) -> None:
    write_run(tmp_path, "skips", NOW - timedelta(hours=2), [check("BKP-08", "skipped")])
    newest = write_run(tmp_path, "real", NOW, [check("HLT-01", "passed")])
    section = env_of(build(newest))
    assert section["excluded"] == 1
    assert [r["measured"] for r in section["runs"]] == [False, True]


def test_several_environments_in_one_report(tmp_path: Path) -> None:
    a = write_run(tmp_path, "a", NOW, [check("HLT-01", "passed")], env="prod")
    b = write_run(
        tmp_path,
        "b",
        NOW,
        [check("HLT-01", "failed", severity="critical")],
        env="staging",
        identity="staging@1",
    )
    data = compliance.build([load_run(a), load_run(b)], [], now=NOW)
    assert [e["name"] for e in data["environments"]] == ["prod", "staging"]
    assert data["status"] == "not compliant"
    paths = compliance.write_all(tmp_path, tmp_path / "report", now=NOW)
    html = paths[0].read_text()
    assert "prod" in html and "staging" in html


def test_html_and_markdown_show_failures_remediation_waivers_attestations(tmp_path: Path) -> None:
    runs = sample_history(tmp_path)
    html_path, md_path = compliance.write_report([runs], tmp_path / "report")
    html, md = html_path.read_text(), md_path.read_text()
    for text in (html, md):
        assert "backup lms_20261127_020000.dump is 31h12m old; RPO is 24h" in text
        assert "fix BKP-01 like this" in text
        assert "OPS-7" in text and "expired" in text  # the expired waiver
        assert "https://x.example/uat" in text and "QA lead" in text
        assert "31h12m" in text
        assert "2.1 System Health Check" in text  # the coverage matrix
        assert "Scope:" in text
        assert re.search(r"\d+ runbook items: .*\d+.* automated", text)
    assert "@media print" in html and "<link" not in html and "<script" not in html
    assert md.startswith("# Compliance report: NOT COMPLIANT")


def test_no_history_is_honoured(tmp_path: Path) -> None:
    newest = sample_history(tmp_path)
    section = env_of(build(newest, history=False))
    assert [r["id"] for r in section["runs"]] == ["weekly"]


def test_a_folder_without_results_is_a_clear_error(tmp_path: Path, capsys: Any) -> None:
    with pytest.raises(RunFolderError, match=r"no results\.json"):
        load_run(tmp_path)
    assert compliance.main([str(tmp_path), "-o", str(tmp_path / "r")]) == 2
    assert "no results.json" in capsys.readouterr().err


def test_matrix_validation_catches_unknown_ids_missing_controls_and_sections() -> None:
    entries = [
        Entry("2.1 X", ("ZZZ-99",), (), None, (), None, None),
        Entry("2.1 Y", (), (), None, (), "no-such-item", None),
    ]
    problems = validate(entries, {"HLT-01"}, ["2.1 X", "4.2 Schema Migrations"])
    assert any("ZZZ-99 is declared by no check" in p for p in problems)
    assert any("no-such-item" in p for p in problems)
    assert any("control HLT-01 appears in no runbook item" in p for p in problems)
    assert any("'4.2 Schema Migrations' has no item" in p for p in problems)


def test_every_runbook_section_kept_in_the_repository_is_in_the_matrix() -> None:
    sections = load_sections()
    assert len(sections) >= 20
    problems = [p for p in validate(load_matrix(), set(), sections) if "section" in p]
    assert problems == []


@pytest.mark.skipif(not RUNBOOK.is_file(), reason=f"{RUNBOOK} is outside this clone")
def test_the_section_list_matches_the_runbook_it_was_taken_from() -> None:
    headings = re.findall(r"^#{3,4} (?:(\d+\.\d+) )?(.+)$", RUNBOOK.read_text(), re.M)
    text = RUNBOOK.read_text()
    for section in load_sections():
        number, title = section.split(" ", 1)
        assert f"### {number} " in text, section
        assert any(title.startswith(h[1].split(" (")[0]) or h[1] in title for h in headings), (
            section
        )
