"""The certificate checks fail, against a real TLS server, for the faults they exist for."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.stacks import black_hole
from tests.support.tls_server import leaf, self_signed, serving

CHECKS = "checks/test_certificates.py"
TLS10 = (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def daily(tmp_path: Path, tls: dict[str, Any], **extra: Any) -> SuiteRun:
    config = {"name": "selftest", "targets": {"tls": tls}, **extra}
    tmp_path.mkdir(parents=True, exist_ok=True)
    env_file = write_env(tmp_path / "env.yaml", config)
    return run_suite("-m", "daily", f"--env={env_file}", CHECKS, out=tmp_path / "out")


def endpoint(url: str, ca_file: Path, **more: Any) -> dict[str, Any]:
    return {"ca_file": str(ca_file), "endpoints": [{"url": url, "headers": False, **more}]}


def outcomes(run: SuiteRun) -> dict[str, str]:
    return {c.control.id: c.outcome for c in run.results.checks}


def test_a_valid_certificate_passes_every_check(
    tmp_path: Path, ca: trustme.CA, ca_file: Path
) -> None:
    with serving(leaf(ca, tmp_path, days_left=90)) as url:
        suite = daily(tmp_path, endpoint(url, ca_file))
    assert outcomes(suite) == {f"CRT-0{i}": "passed" for i in (1, 2, 3, 4)} | {
        "CRT-05": "skipped"
    }, suite.output
    left = suite.only("test_endpoint_certificate_is_far_from_expiry")
    assert left.properties, suite.output
    assert "CertificateWarning" not in suite.output


def test_expiry_within_the_warning_level_warns_and_within_the_critical_level_fails(
    tmp_path: Path, ca: trustme.CA, ca_file: Path
) -> None:
    with serving(leaf(ca, tmp_path, days_left=14)) as url:
        warned = daily(tmp_path / "warn", endpoint(url, ca_file))
    assert outcomes(warned)["CRT-01"] == "passed"
    assert f"CertificateWarning: certificate of {url} expires in 13d23h" in warned.output
    assert "warning level is 21d left" in warned.output
    with serving(leaf(ca, tmp_path, days_left=3)) as url:
        critical = daily(tmp_path / "crit", endpoint(url, ca_file))
    check = critical.only("test_endpoint_certificate_is_far_from_expiry")
    assert check.outcome == "failed"
    assert f"certificate of {url} expires in 2d23h" in check.message
    assert "critical level is 7d left" in check.message
    assert critical.exit_code == 1


def test_an_expired_certificate_fails_expiry_and_chain(
    tmp_path: Path, ca: trustme.CA, ca_file: Path
) -> None:
    with serving(leaf(ca, tmp_path, days_left=-2, days_old=90)) as url:
        suite = daily(tmp_path, endpoint(url, ca_file))
    expiry = suite.only("test_endpoint_certificate_is_far_from_expiry")
    assert expiry.outcome == "failed"
    assert f"certificate of {url} expired (" in expiry.message
    chain = suite.only("test_endpoint_certificate_chain_verifies")
    assert chain.outcome == "failed" and "certificate has expired" in chain.message


def test_a_certificate_for_another_host_fails_the_name_check(
    tmp_path: Path, ca: trustme.CA, ca_file: Path
) -> None:
    with serving(leaf(ca, tmp_path, "api.other.example")) as url:
        suite = daily(tmp_path, endpoint(url, ca_file, server_name="api.lms.example"))
    check = suite.only("test_endpoint_certificate_matches_its_name")
    assert check.outcome == "failed"
    assert f"certificate of {url} is for api.other.example" in check.message
    assert "it does not cover api.lms.example" in check.message
    assert outcomes(suite)["CRT-02"] == "passed"  # trusted, just not for this name


def test_a_self_signed_certificate_fails_the_chain_check(tmp_path: Path, ca_file: Path) -> None:
    with serving(self_signed(tmp_path, "localhost")) as url:
        suite = daily(tmp_path, endpoint(url, ca_file, server_name="localhost"))
    check = suite.only("test_endpoint_certificate_chain_verifies")
    assert check.outcome == "failed"
    assert "self-signed certificate" in check.message and f"{ca_file}" in check.message
    assert outcomes(suite)["CRT-03"] == "passed"


def test_the_system_store_does_not_trust_a_private_ca(tmp_path: Path, ca: trustme.CA) -> None:
    with serving(leaf(ca, tmp_path)) as url:
        suite = daily(tmp_path, {"endpoints": [{"url": url, "headers": False}]})
    check = suite.only("test_endpoint_certificate_chain_verifies")
    assert check.outcome == "failed"
    assert "does not verify against system store: unable to get local issuer" in check.message


def test_a_server_speaking_only_tls_1_0_fails_the_protocol_check(
    tmp_path: Path, ca: trustme.CA, ca_file: Path
) -> None:
    with serving(leaf(ca, tmp_path), versions=TLS10) as url:
        suite = daily(tmp_path, endpoint(url, ca_file))
    check = suite.only("test_endpoint_speaks_only_modern_tls")
    assert check.outcome == "failed"
    assert f"{url} negotiated TLSv1 as its best protocol; the minimum is TLSv1.2" in check.message
    # The certificate is still read and judged (seclevel 0 on the client: probes/tls.py).
    assert outcomes(suite)["CRT-01"] == "passed" and outcomes(suite)["CRT-02"] == "passed"


def test_a_modern_server_that_still_accepts_tls_1_0_fails(
    tmp_path: Path, ca: trustme.CA, ca_file: Path
) -> None:
    versions = (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_3)
    with serving(leaf(ca, tmp_path), versions=versions) as url:
        suite = daily(tmp_path, endpoint(url, ca_file))
    check = suite.only("test_endpoint_speaks_only_modern_tls")
    assert check.outcome == "failed"
    assert f"{url} accepts TLSv1, TLSv1.1 (negotiated TLSv1.3 when offered more)" in check.message


def test_certificate_files_on_disk_are_judged_with_the_same_levels(
    tmp_path: Path, ca: trustme.CA
) -> None:
    fresh, stale = leaf(ca, tmp_path, days_left=200), leaf(ca, tmp_path, days_left=5)
    suite = daily(tmp_path, {"files": [{"path": str(fresh)}, {"path": str(stale)}]})
    assert suite.only(f"test_certificate_file_is_far_from_expiry[local:{fresh}]").outcome == (
        "passed"
    )
    check = suite.only(f"test_certificate_file_is_far_from_expiry[local:{stale}]")
    assert check.outcome == "failed"
    assert f"certificate of {stale} on local:// expires in 4d23h" in check.message
    missing = daily(tmp_path / "missing", {"files": [{"path": str(tmp_path / "nope.pem")}]})
    assert missing.only("test_certificate_file_is_far_from_expiry").outcome == "error"


def test_nothing_configured_skips_and_strict_fails(tmp_path: Path) -> None:
    suite = daily(tmp_path, {})
    check = suite.only("test_endpoint_certificate_is_far_from_expiry")
    assert check.outcome == "skipped"
    assert "not configured: no https endpoint" in check.message
    strict = daily(tmp_path / "strict", {}, strict=True)
    assert strict.only("test_endpoint_certificate_is_far_from_expiry").outcome == "error"
    assert strict.exit_code == 1


def test_a_hung_endpoint_costs_one_deadline_and_is_an_error(tmp_path: Path) -> None:
    with black_hole() as port:
        url = f"https://127.0.0.1:{port}"
        suite = daily(
            tmp_path,
            {"endpoints": [{"url": url, "headers": False}]},
            timeouts={"connect": "1s", "request": "1s", "deadline": "2s"},
        )
    results = {c.control.id: c for c in suite.results.checks}
    assert {results[c].outcome for c in ("CRT-01", "CRT-02", "CRT-03", "CRT-04")} == {"error"}
    assert "TLS handshake did not finish in time" in results["CRT-01"].message
    assert sum(c.duration_s for c in suite.results.checks) < 10
