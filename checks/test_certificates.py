"""Certificates: every HTTPS endpoint presents a trusted, current certificate over modern TLS."""

from __future__ import annotations

import warnings
from datetime import datetime

import pytest

from lms_opscheck.config.durations import format_duration as fmt
from lms_opscheck.config.model import Environment
from lms_opscheck.config.security import SecurityPolicy
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.fixtures.tls import CertificateOnDisk
from lms_opscheck.probes.tls import Certificate, Handshake, at_least

RUNBOOK = "5.2 Certificate Management"
RENEW = "Renew the certificate (Let's Encrypt or the CA), replace it on the proxy, reload it."


class CertificateWarning(UserWarning):
    """A certificate expires within the warning level: renew it before the check fails."""


def _expiry(
    certificate: Certificate, where: str, at: datetime, policy: SecurityPolicy, ev: EvidenceLog
) -> None:
    """Fail at or below the critical level, warn at or below the warning level."""
    __tracebackhide__ = True
    left = certificate.left(at)
    levels = f"warning <= {fmt(policy.tls_warning)}, critical <= {fmt(policy.tls_critical)}"
    ev.record("expires", f"{certificate.not_after:%Y-%m-%d %H:%M}Z", target=where)
    ev.record("left", left, threshold=f"> {fmt(policy.tls_critical)} ({levels})", target=where)
    state = "expired" if left.total_seconds() <= 0 else f"expires in {fmt(left)}"
    assert left > policy.tls_critical, (
        f"certificate of {where} {state} ({certificate.not_after:%Y-%m-%d}); "
        f"critical level is {fmt(policy.tls_critical)} left"
    )
    if left <= policy.tls_warning:
        warnings.warn(
            CertificateWarning(
                f"certificate of {where} expires in {fmt(left)}; warning level is "
                f"{fmt(policy.tls_warning)} left"
            ),
            stacklevel=1,
        )


@pytest.mark.daily
@pytest.mark.control("CRT-01", severity="critical", runbook=RUNBOOK, remediation=RENEW)
def test_endpoint_certificate_is_far_from_expiry(
    tls_handshake: Handshake, environment: Environment, evidence: EvidenceLog
) -> None:
    """Each HTTPS endpoint's certificate has more days left than the critical level (warns
    below the warning level)."""
    evidence.record("certificate", str(tls_handshake.certificate), target=tls_handshake.url)
    policy = environment.policy.security
    _expiry(
        tls_handshake.certificate, tls_handshake.url, tls_handshake.measured_at, policy, evidence
    )


@pytest.mark.daily
@pytest.mark.control(
    "CRT-02",
    severity="critical",
    runbook=RUNBOOK,
    remediation=(
        "Serve the full chain (leaf + intermediates) from a trusted CA, never a self-signed one."
    ),
)
def test_endpoint_certificate_chain_verifies(
    tls_handshake: Handshake, evidence: EvidenceLog
) -> None:
    """Each HTTPS endpoint's certificate chain verifies against the system store or the CA file."""
    cert = tls_handshake.certificate
    evidence.record("issuer", cert.issuer, target=tls_handshake.url)
    evidence.record("self_issued", cert.self_issued)
    evidence.record(
        "chain",
        tls_handshake.chain_error or "verified",
        threshold=f"verified against {tls_handshake.trust}",
    )
    assert tls_handshake.chain_error is None, (
        f"certificate chain of {tls_handshake.url} does not verify against "
        f"{tls_handshake.trust}: {tls_handshake.chain_error} (issuer {cert.issuer}"
        f"{', self-issued' if cert.self_issued else ''})"
    )


@pytest.mark.daily
@pytest.mark.control(
    "CRT-03",
    severity="critical",
    runbook=RUNBOOK,
    remediation=(
        "Issue the certificate for the name clients use (subjectAltName), or fix the server name."
    ),
)
def test_endpoint_certificate_matches_its_name(
    tls_handshake: Handshake, evidence: EvidenceLog
) -> None:
    """Each HTTPS endpoint's certificate names the endpoint (its server name, or URL host)."""
    cert, name = tls_handshake.certificate, tls_handshake.server_name
    evidence.record(
        "names", list(cert.names), threshold=f"includes {name}", target=tls_handshake.url
    )
    assert cert.matches(name), (
        f"certificate of {tls_handshake.url} is for {', '.join(cert.names) or 'no subjectAltName'}"
        f" ({cert.subject}); it does not cover {name}"
    )


@pytest.mark.daily
@pytest.mark.control(
    "CRT-04",
    severity="high",
    runbook=RUNBOOK,
    remediation=("Allow only TLS 1.2 and 1.3 on the proxy (nginx ssl_protocols, Caddy protocols)."),
)
def test_endpoint_speaks_only_modern_tls(
    tls_handshake: Handshake, environment: Environment, evidence: EvidenceLog
) -> None:
    """Each HTTPS endpoint negotiates at least the minimum TLS version and refuses TLS 1.0/1.1."""
    minimum = environment.policy.security.tls_min_version
    legacy = tls_handshake.legacy
    accepted = [v for v, ok in legacy.items() if ok]
    untested = [v for v, ok in legacy.items() if ok is None]
    evidence.record(
        "negotiated", tls_handshake.version, threshold=f">= {minimum}", target=tls_handshake.url
    )
    evidence.record("cipher", tls_handshake.cipher)
    evidence.record("legacy_accepted", accepted, threshold="none")
    if untested:
        evidence.record("legacy_not_testable", untested)
        warnings.warn(
            UserWarning(
                f"this machine's OpenSSL cannot offer {', '.join(untested)}: "
                f"{tls_handshake.url} was not tested for them"
            ),
            stacklevel=1,
        )
    assert at_least(tls_handshake.version, minimum), (
        f"{tls_handshake.url} negotiated {tls_handshake.version} as its best protocol; "
        f"the minimum is {minimum}"
    )
    assert not accepted, (
        f"{tls_handshake.url} accepts {', '.join(accepted)} (negotiated {tls_handshake.version} "
        f"when offered more); only {minimum} and newer may be accepted"
    )


@pytest.mark.daily
@pytest.mark.control("CRT-05", severity="critical", runbook=RUNBOOK, remediation=RENEW)
def test_certificate_file_is_far_from_expiry(
    certificate_on_disk: CertificateOnDisk, environment: Environment, evidence: EvidenceLog
) -> None:
    """Each certificate file on disk has more days left than the critical level (warns below
    the warning level)."""
    disk = certificate_on_disk
    evidence.record("certificate", str(disk.certificate), target=disk.label)
    _expiry(disk.certificate, disk.label, disk.measured_at, environment.policy.security, evidence)
