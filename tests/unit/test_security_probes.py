"""Security probes and config: certificate names, headers, scan reports, finding waivers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from pydantic import ValidationError

from lms_opscheck.config.governance import Waiver
from lms_opscheck.config.loader import ConfigError, load_environment
from lms_opscheck.probes import headers
from lms_opscheck.probes.scan_reports import ReportFile, parse_bandit, parse_pip_audit
from lms_opscheck.probes.secret_age import _trim_nanoseconds
from lms_opscheck.probes.tls import Certificate, at_least, read_certificate
from lms_opscheck.probes.waivers import finding_waivers, waiver_in_force

TODAY = date(2026, 11, 28)
FILE = ReportFile("r.json", "/r/r.json", "/r on local://", datetime(2026, 11, 27, tzinfo=UTC), 10)


def cert(*names: str) -> Certificate:
    now = datetime.now(UTC)
    return Certificate("cn", "ca", now, now, names, False, "00")


def test_certificate_names_follow_rfc_6125() -> None:
    wild = cert("*.lms.example", "10.0.0.5")
    assert wild.matches("api.lms.example") and wild.matches("API.lms.example.")
    assert not wild.matches("lms.example") and not wild.matches("a.b.lms.example")
    assert wild.matches("10.0.0.5") and not wild.matches("10.0.0.6")
    assert not cert("api.lms.example").matches("10.0.0.5")


def test_a_trustme_certificate_is_read_with_its_names_and_dates() -> None:
    issued = trustme.CA().issue_cert("api.lms.example", "127.0.0.1")
    read = read_certificate(issued.cert_chain_pems[0].bytes())
    assert read.names == ("api.lms.example", "127.0.0.1")
    assert read.left(datetime.now(UTC)) > timedelta(days=300)
    assert not read.self_issued


def test_tls_versions_are_ordered() -> None:
    assert at_least("TLSv1.3", "TLSv1.2") and not at_least("TLSv1.1", "TLSv1.2")
    assert not at_least("unknown", "TLSv1.2")


def test_hsts_and_header_policy() -> None:
    assert headers.hsts_max_age("max-age=31536000; includeSubDomains; preload") == 31536000
    assert headers.hsts_max_age('includeSubDomains; max-age="600"') == 600
    assert headers.hsts_max_age("max-age=") is None and headers.hsts_max_age(None) is None
    answer = headers.Answer("u", 200, {"x-frame-options": "SAMEORIGIN"})
    required = {"X-Frame-Options": r"(?i)^(DENY|SAMEORIGIN)$", "Referrer-Policy": None}
    assert headers.header_problems(answer, required) == ["Referrer-Policy missing"]
    assert headers.open_paths({"/docs": 200, "/openapi.json": 404, "/x": 302}) == {
        "/docs": 200,
        "/x": 302,
    }


def test_bandit_report_paths_are_normalized_and_levels_filter() -> None:
    data = {
        "generated_at": "2026-11-20T03:00:00Z",
        "results": [
            {
                "test_id": "B602",
                "filename": "./app/u.py",
                "line_number": 3,
                "issue_severity": "HIGH",
                "issue_confidence": "LOW",
                "issue_text": "shell",
            },
            {
                "test_id": "B105",
                "filename": "app/c.py",
                "line_number": 9,
                "issue_severity": "HIGH",
                "issue_confidence": "MEDIUM",
                "issue_text": "password",
            },
        ],
        "errors": [{"filename": "app/bad.py", "reason": "syntax error"}],
        "metrics": {"_totals": {"loc": 120}},
    }
    report = parse_bandit(data, FILE)
    assert [f.key for f in report.findings] == ["B602:app/u.py:3", "B105:app/c.py:9"]
    assert [f.key for f in report.at_or_above("HIGH", "MEDIUM")] == ["B105:app/c.py:9"]
    assert report.generated_at == datetime(2026, 11, 20, 3, tzinfo=UTC)
    assert report.lines == 120 and report.errors == ("app/bad.py: syntax error",)


def test_pip_audit_report_counts_audited_and_skipped() -> None:
    data = {
        "dependencies": [
            {"name": "a", "version": "1", "vulns": []},
            {"name": "b", "skip_reason": "not on PyPI"},
            {
                "name": "c",
                "version": "2",
                "vulns": [
                    {"id": "PYSEC-2024-1", "aliases": ["CVE-2024-1"], "fix_versions": ["2.1"]}
                ],
            },
        ],
        "fixes": [],
    }
    report = parse_pip_audit(data, FILE)
    assert report.audited == 2 and report.skipped == ("b: not on PyPI",)
    (vuln,) = report.vulnerabilities
    assert vuln.keys == ("PYSEC-2024-1", "CVE-2024-1")
    assert str(vuln) == "PYSEC-2024-1 (CVE-2024-1) in c 2, fixed in: 2.1"


def waiver(finding: str | None, expires: str, control: str = "SEC-04") -> Waiver:
    return Waiver(
        control=control, finding=finding, reason="r", ticket="T-1", approver="a", expires=expires
    )


def test_a_finding_waiver_never_waives_the_whole_control() -> None:
    waivers = [waiver("CVE-2024-23342", "2026-12-20")]
    assert waiver_in_force(waivers, "SEC-04", TODAY) is None
    whole = waiver(None, "2026-12-01")
    assert waiver_in_force([*waivers, whole], "SEC-04", TODAY) == whole


def test_finding_waivers_keep_the_longest_and_say_why_others_do_not_apply() -> None:
    found = finding_waivers(
        [
            waiver("CVE-1", "2026-12-01"),
            waiver("CVE-1", "2026-12-20"),
            waiver("CVE-2", "2026-11-01"),
            waiver("CVE-3", "2027-06-01"),
            waiver("CVE-4", "2026-12-01", control="SEC-03"),
        ],
        "SEC-04",
        TODAY,
        timedelta(days=90),
    )
    assert found.waiver_for(["GHSA-x", "CVE-1"]) == waiver("CVE-1", "2026-12-20")
    assert found.waiver_for(["CVE-4"]) is None
    assert "expired 2026-11-01" in found.refused["CVE-2"]
    assert "the maximum waiver length is 90d" in found.refused["CVE-3"]


@pytest.mark.parametrize(
    "finding", ["CVE-2024-23342", "GHSA-wj6h-64fc-37mp", "PYSEC-2024-1", "B602:app/utils.py:41"]
)
def test_finding_ids_that_waivers_accept(finding: str) -> None:
    assert waiver(finding, "2026-12-01").finding == finding


@pytest.mark.parametrize("finding", ["cve-2024-1", "B602:app/utils.py", "all", "B602 app.py 4"])
def test_finding_ids_that_waivers_refuse(finding: str) -> None:
    with pytest.raises(ValidationError, match="expected a vulnerability id"):
        waiver(finding, "2026-12-01")


def test_vault_timestamps_with_nanoseconds_are_read() -> None:
    stamp = _trim_nanoseconds("2018-03-22T02:24:06.945319214Z")
    assert datetime.fromisoformat(stamp) == datetime(2018, 3, 22, 2, 24, 6, 945319, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("secrets_age: {secrets: [A]}", "declare exactly one of vault or ledger"),
        (
            "secrets_age: {secrets: [A], ledger: {path: /l.yaml}, max_age: {B: 30d}}",
            "max_age names unlisted secrets: B",
        ),
        ("policy: {security: {tls_warning: 5d}}", "tls_critical is longer than tls_warning"),
        ("targets: {tls: {endpoints: [{url: http://lb}]}}", "expected an https://host"),
    ],
)
def test_security_config_errors_are_one_line(tmp_path: Path, body: str, problem: str) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(f"name: x\n{body}\n")
    with pytest.raises(ConfigError, match=problem):
        load_environment(str(path))
