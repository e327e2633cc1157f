"""The compliance report from hand-written run folders (results.json contract), and its matrix."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lms_opscheck.reports import compliance
from lms_opscheck.reports.coverage import Entry, declared_controls, load_matrix, validate
from lms_opscheck.reports.runs import RunFolderError, discover_history, load_run
from tests.support.sample_runs import NOW, check, sample_history, write_run

RUNBOOK = Path("/work/shared/runbook.md")


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    return sample_history(tmp_path)


def test_report_merges_the_week_and_trends_earlier_weeks(runs: Path) -> None:
    current = [load_run(runs)]
    data = compliance.build(current, discover_history(current), now=NOW)
    assert [r["id"] for r in data["runs"]] == ["mon", "weekly"]
    assert data["status"] == "not compliant"  # a critical control failed
    assert {c["control"]["id"]: c["outcome"] for c in data["checks"]} == {
        "BKP-01": "failed",
        "BKP-02": "waived",
        "HLT-01": "passed",
    }
    assert [w["label"] for w in data["weeks"]] == ["2026-W45", "2026-W46", "this week"]
    assert [w["status"] for w in data["weeks"]] == ["attention", "compliant", "not compliant"]
    assert {a["name"]: a["status"] for a in data["areas"]} == {
        "Backups": "not compliant",
        "System health": "compliant",
    }


def test_html_and_markdown_show_failures_remediation_waivers_attestations(
    runs: Path, tmp_path: Path
) -> None:
    html_path, md_path = compliance.write_report([runs], tmp_path / "report")
    html, md = html_path.read_text(), md_path.read_text()
    for text in (html, md):
        assert "backup lms_20261127_020000.dump is 31h12m old; RPO is 24h" in text
        assert "fix BKP-01 like this" in text
        assert "OPS-7" in text and "expired" in text  # the expired waiver
        assert "https://x.example/uat" in text and "QA lead" in text
        assert "31h12m" in text and "threshold &lt;= 24h" in text.replace("<= 24h", "&lt;= 24h")
        assert "2.1 System Health Check" in text  # the coverage matrix
    assert "@media print" in html and "<link" not in html and "<script" not in html
    assert md.startswith("# Compliance report — prod: NOT COMPLIANT")


def test_history_ignores_other_environments_and_no_history_is_honoured(
    runs: Path, tmp_path: Path
) -> None:
    write_run(
        tmp_path, "other", NOW - timedelta(days=14), [check("HLT-01", "failed")], env="staging"
    ).rename(runs.parent / "other")
    assert [r.id for r in discover_history([load_run(runs)])] == ["w45", "w46", "mon"]
    assert compliance.main([str(runs), "-o", str(tmp_path / "r"), "--no-history"]) == 0
    assert "2026-W45" not in (tmp_path / "r" / "compliance.md").read_text()


def test_a_folder_without_results_is_a_clear_error(tmp_path: Path, capsys: Any) -> None:
    with pytest.raises(RunFolderError, match=r"neither results\.json nor junit\.xml"):
        load_run(tmp_path)
    assert compliance.main([str(tmp_path), "-o", str(tmp_path / "r")]) == 2
    assert "is it a run folder?" in capsys.readouterr().err


def test_matrix_names_only_controls_that_a_check_declares() -> None:
    declared = declared_controls()
    assert {"HLT-01", "HLT-05", "GOV-01", "GOV-02"} <= declared
    assert validate(load_matrix(), declared) == []


def test_matrix_validation_catches_unknown_ids_and_attestations() -> None:
    bad = [Entry("2.1 X", ("HLT-99",), (), None, None), Entry("7.1 Y", (), (), "nope", None)]
    assert validate(bad, {"HLT-01"}) == [
        "2.1 X: control HLT-99 is declared by no check",
        "7.1 Y: attestation 'nope' is not catalogued",
    ]


@pytest.mark.skipif(not RUNBOOK.is_file(), reason=f"{RUNBOOK} is not on this machine")
def test_every_runbook_item_is_in_the_matrix() -> None:
    items = [e.item for e in load_matrix()]
    wanted: list[str] = []
    section = ""
    for line in RUNBOOK.read_text().splitlines():
        if m := re.match(r"^###\s+(\d+\.\d+)\s+(.*)", line):
            section = m[1]
            if section[0] in "56":
                wanted.append(f"{section} {m[2]}")
        elif (m := re.match(r"^####\s+(.*)", line)) and section[0] in "234":
            wanted.append(section + " " + re.sub(r" \(.*\)", "", m[1]))
        elif (m := re.match(r"^- \[ \] (.*)", line)) and section in ("7.1", "7.2"):
            wanted.append(f"{section} {m[1]}")
    missing = [w for w in wanted if not any(i.startswith(w) or w in i for i in items)]
    assert not missing, f"runbook items absent from reports/coverage.yaml: {missing}"
