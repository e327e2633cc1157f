"""Replicas behind a Host allow-list, called by address: the Host header and TLS name to send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.trusted_api import trusted_api

trustme = pytest.importorskip("trustme")

NAME = "lms.example.test"


def liveness(tmp_path: Path, api: dict[str, Any]) -> SuiteRun:
    tmp_path.mkdir(exist_ok=True)
    env = write_env(tmp_path / "env.yaml", {"name": "selftest", "targets": {"api": api}})
    run = run_suite("-m", "daily", "-k", "answers_liveness", f"--env={env}", out=tmp_path / "out")
    assert len(run.checks) == 1, run.output
    return run


def test_an_api_refusing_unknown_hosts_is_green_with_the_host_named_and_red_with_its_body(
    tmp_path: Path,
) -> None:
    with trusted_api(tmp_path, NAME) as port:
        url = f"http://127.0.0.1:{port}"
        refused = liveness(tmp_path / "refused", {"replicas": [url]})
        named = liveness(tmp_path / "named", {"replicas": [url], "host_header": NAME})
    result = refused.only("test_api_replica_answers_liveness")
    assert result.outcome == "failed"
    assert f"{url}/api/v1/health answered 400 'Invalid host header'; expected 200" in (
        result.message
    )
    assert named.only("test_api_replica_answers_liveness").outcome == "passed", named.output
    assert named.exit_code == 0


def test_tls_replica_by_address_verifies_against_the_configured_name(tmp_path: Path) -> None:
    ca = trustme.CA()
    pem, ca_file = tmp_path / "server.pem", tmp_path / "ca.pem"
    ca.issue_cert(NAME).private_key_and_cert_chain_pem.write_to_path(str(pem))
    ca.cert_pem.write_to_path(str(ca_file))
    with trusted_api(tmp_path, NAME, pem) as port:
        url = f"https://127.0.0.1:{port}"
        api = {"replicas": [url], "ca_file": str(ca_file)}
        named = liveness(tmp_path / "named", {**api, "host_header": NAME})
        by_address = liveness(tmp_path / "address", api)
        wrong_name = liveness(
            tmp_path / "wrong", {**api, "host_header": NAME, "tls_server_name": "other.test"}
        )
    assert named.only("test_api_replica_answers_liveness").outcome == "passed", named.output
    for run, name in ((by_address, "127.0.0.1"), (wrong_name, "other.test")):
        result = run.only("test_api_replica_answers_liveness")
        assert result.outcome == "error"
        assert f"{url}/api/v1/health: cannot connect (TLS: " in result.message
        assert f"certificate is not valid for '{name}'" in result.message
