"""Secret age (rotation ledger, a Vault-shaped server) and security headers (a real HTTP(S)
server, the sandbox API) fail for the faults they exist for; no secret value is ever shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trustme

from lms_opscheck.sandbox import stack
from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.stacks import sandbox_config
from tests.support.tls_server import SECURE_HEADERS, Site, leaf, serving
from tests.support.vault import FakeVault
from tests.support.vault import serving as vault_serving

CHECKS = "checks/test_security.py"
SECRETS = ["SECRET_KEY", "DATABASE_PASSWORD", "REDIS_PASSWORD"]
CANARY = "canary-7f3a9c1e-never-print-me"
TOKEN = "s.vault-token-for-selftest"


def run(tmp_path: Path, config: dict[str, Any], *args: str, **env: str) -> SuiteRun:
    tmp_path.mkdir(parents=True, exist_ok=True)
    env_file = write_env(tmp_path / "env.yaml", {"name": "selftest", **config})
    return run_suite(*args, f"--env={env_file}", CHECKS, out=tmp_path / "out", env=env)


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")


def everything_written(suite: SuiteRun) -> str:
    files = [p for p in suite.run_dir.rglob("*") if p.is_file()]
    return suite.output + "".join(p.read_text(errors="replace") for p in files)


def ledger_config(path: Path) -> dict[str, Any]:
    return {"secrets_age": {"secrets": SECRETS, "ledger": {"path": str(path)}}}


def test_an_over_age_secret_in_the_ledger_fails_and_a_due_one_warns(tmp_path: Path) -> None:
    ledger = tmp_path / "rotations.yaml"
    ledger.write_text(
        "rotations:\n"
        f"  - {{secret: SECRET_KEY, rotated_at: '{ago(200)}', by: alice}}\n"
        f"  - {{secret: SECRET_KEY, rotated_at: '{ago(100)}', by: bob}}\n"
        f"  - {{secret: DATABASE_PASSWORD, rotated_at: '{ago(10)}', by: carol}}\n"
        f"  - {{secret: REDIS_PASSWORD, rotated_at: '{ago(80)}', by: dave}}\n"
    )
    suite = run(tmp_path, ledger_config(ledger), "-m", "weekly", "-k", "secret")
    check = suite.only("test_every_secret_is_younger")
    assert check.outcome == "failed"
    assert f"1 secret(s) over age in ledger {ledger} on local://" in check.message
    assert "SECRET_KEY rotated 100d ago (bob); maximum 90d" in check.message
    assert "SecurityWarning" in suite.output and "REDIS_PASSWORD is due in 9d23h" in suite.output


def test_a_secret_missing_from_a_csv_ledger_fails_naming_it(tmp_path: Path) -> None:
    ledger = tmp_path / "rotations.csv"
    ledger.write_text(
        f"secret,rotated_at,by\nSECRET_KEY,{ago(3)},alice\nDATABASE_PASSWORD,{ago(4)},bob\n"
    )
    suite = run(tmp_path, ledger_config(ledger), "-m", "weekly", "-k", "secret")
    check = suite.only("test_every_secret_is_younger")
    assert check.outcome == "failed"
    assert "has no rotation of REDIS_PASSWORD" in check.message


def test_a_ledger_listing_none_of_the_secrets_does_not_pass(tmp_path: Path) -> None:
    ledger = tmp_path / "rotations.yaml"
    ledger.write_text(f"rotations:\n  - {{secret: OTHER_TOKEN, rotated_at: '{ago(1)}', by: x}}\n")
    suite = run(tmp_path, ledger_config(ledger), "-m", "weekly", "-k", "secret")
    check = suite.only("test_every_secret_is_younger")
    assert check.outcome == "failed"
    assert "holds none of the 3 listed secrets" in check.message and "1 entries read" in (
        check.message
    )


def test_a_canary_value_beside_and_inside_the_ledger_appears_in_no_output(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text(f"SECRET_KEY={CANARY}\nDATABASE_PASSWORD={CANARY}\n")
    ledger = tmp_path / "rotations.csv"
    ledger.write_text(
        "secret,rotated_at,by,value\n"
        f"SECRET_KEY,{ago(120)},alice,{CANARY}\n"
        f"DATABASE_PASSWORD,{ago(1)},bob,{CANARY}\n"
    )
    suite = run(tmp_path, ledger_config(ledger), "-m", "weekly", "-k", "secret", "-rA")
    assert suite.only("test_every_secret_is_younger").outcome == "failed"
    assert CANARY not in everything_written(suite)


def vault_config(url: str, folder: str = "lms") -> dict[str, Any]:
    vault = {"url": url, "token": "${SELFTEST_VAULT_TOKEN}", "path": folder}
    return {"secrets_age": {"secrets": SECRETS, "vault": vault}}


def weekly_secret_age(vault: FakeVault, tmp: Path, *options: str) -> tuple[SuiteRun, str]:
    """The weekly secret-age check against ``vault`` served on 127.0.0.1 for that run only."""
    with vault_serving(vault) as url:
        suite = run(tmp, vault_config(url), "-m", "weekly", "-k", "secret", *options,
                    SELFTEST_VAULT_TOKEN=TOKEN)  # fmt: skip
    return suite, url


def test_vault_metadata_over_age_fails_and_no_value_is_ever_requested(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    vault = FakeVault(
        TOKEN,
        CANARY,
        {"SECRET_KEY": (3, now - timedelta(days=120)), "DATABASE_PASSWORD": (7, now)},
    )
    suite, url = weekly_secret_age(vault, tmp_path, "-rA")
    check = suite.only("test_every_secret_is_younger")
    assert check.outcome == "failed"
    assert f"vault {url} secret/lms has no rotation of REDIS_PASSWORD" in check.message
    # every request was for metadata; the data endpoint (the values) was never asked
    assert vault.paths and all(p.startswith("/v1/secret/metadata/lms/") for p in vault.paths)
    written = everything_written(suite)
    assert CANARY not in written and TOKEN not in written
    vault.secrets["REDIS_PASSWORD"] = (1, now - timedelta(days=2))
    again, url = weekly_secret_age(vault, tmp_path / "again")
    check = again.only("test_every_secret_is_younger")
    assert "SECRET_KEY rotated 120d ago (version 3); maximum 90d" in check.message


def test_a_vault_refusing_the_token_is_an_error_not_a_verdict(tmp_path: Path) -> None:
    vault = FakeVault("another-token", CANARY, {"SECRET_KEY": (1, datetime.now(UTC))})
    suite, _ = weekly_secret_age(vault, tmp_path)
    check = suite.only("test_every_secret_is_younger")
    assert check.outcome == "error"
    assert "Vault refused the token for lms/SECRET_KEY" in check.message
    assert TOKEN not in everything_written(suite)


def api(url: str, **more: Any) -> dict[str, Any]:
    return {"targets": {"api": {"replicas": [url]}}, **more}


def test_a_missing_or_wrong_header_fails_naming_it(tmp_path: Path) -> None:
    headers = {**SECURE_HEADERS, "X-Frame-Options": "ALLOWALL"}
    del headers["Referrer-Policy"]
    with serving(None, Site(headers=headers)) as url:
        suite = run(tmp_path, api(url), "-m", "daily", "-k", "security_headers or hsts")
    check = suite.only("test_api_answers_carry_the_security_headers")
    assert check.outcome == "failed"
    assert f"GET {url}/api/v1/health -> 200: X-Frame-Options is 'ALLOWALL'" in check.message
    assert "Referrer-Policy missing" in check.message
    hsts = suite.only("test_https_answers_carry_hsts")
    assert hsts.outcome == "skipped" and "not configured: no https endpoint" in hsts.message


def test_hsts_missing_or_too_short_over_https_fails(tmp_path: Path) -> None:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    pem = leaf(ca, tmp_path)
    tls = {"ca_file": str(tmp_path / "ca.pem")}
    short = {**SECURE_HEADERS, "Strict-Transport-Security": "max-age=300"}
    with serving(pem, Site(headers=short)) as url:
        config = {"targets": {"api": {"replicas": [url]}, "tls": tls}}
        suite = run(tmp_path / "short", config, "-m", "daily", "-k", "hsts")
    check = suite.only("test_https_answers_carry_hsts")
    assert check.outcome == "failed"
    assert "'max-age=300' has max-age 300; at least 31536000 is required" in check.message
    none = {k: v for k, v in SECURE_HEADERS.items() if k != "Strict-Transport-Security"}
    with serving(pem, Site(headers=none)) as url:
        config = {"targets": {"api": {"replicas": [url]}, "tls": tls}}
        suite = run(tmp_path / "none", config, "-m", "daily", "-k", "hsts")
    assert "has no Strict-Transport-Security header" in suite.only("test_https_answers").message


def test_open_docs_fail_in_production_and_are_not_applicable_elsewhere(tmp_path: Path) -> None:
    site = Site(paths={"/api/v1/health": 200, "/docs": 200, "/openapi.json": 404})
    with serving(None, site) as url:
        prod = run(tmp_path / "prod", api(url, production=True), "-m", "daily", "-k", "docs")
        staging = run(tmp_path / "staging", api(url), "-m", "daily", "-k", "docs")
    check = prod.only("test_api_docs_are_closed_in_production")
    assert check.outcome == "failed"
    assert f"{url} serves /docs (200) in production; expected 404, 401 or 403" in check.message
    skipped = staging.only("test_api_docs_are_closed_in_production")
    assert skipped.outcome == "skipped" and "not a production environment" in skipped.message
    assert "GET" in "".join(site.requests) or site.requests  # only GETs reach this server


def test_the_sandbox_passes_then_fails_when_its_api_drops_a_header(
    tmp_path: Path, live_stack: stack.State
) -> None:
    config = sandbox_config(live_stack)
    env_file = write_env(tmp_path / "env.yaml", config)
    checks = ("checks/test_security.py", "checks/test_certificates.py")
    healthy = run_suite(
        "-m", "daily or weekly", f"--env={env_file}", *checks, out=tmp_path / "healthy"
    )
    outcomes = {c.key: c.outcome for c in healthy.results.checks}
    assert set(outcomes.values()) <= {"passed", "skipped"}, healthy.output
    sec03 = next(c for c in healthy.results.checks if c.control.id == "SEC-03")
    waived = next(e for e in sec03.evidence if e.name == "waived")
    assert "B602:lms_app_sample/certificates.py:18 by SANDBOX-11" in waived.value
    (live_stack.dir / "faults" / "drop_header").write_text("X-Frame-Options\n")
    broken = run_suite("-m", "daily", f"--env={env_file}", *checks, out=tmp_path / "broken")
    failing = [c for c in broken.results.checks if c.outcome == "failed"]
    assert {c.control.id for c in failing} == {"SEC-05"}
    assert len(failing) == 2  # the plain replica and the HTTPS endpoint
    assert all("X-Frame-Options missing" in c.message for c in failing)
