"""TLS measurements: an endpoint's certificate, negotiated protocol, chain trust and legacy
protocols; certificate files on disk. ``ssl`` for the handshakes, ``cryptography`` to read
certificates (never ``openssl`` text output).

One endpoint costs up to four short connections, one after another, each bounded by the
connect and request timeouts; the first one failing ends the measurement (one timeout):

1. *inspect* — accepts any certificate and any protocol the client can offer (down to TLS 1.0,
   at OpenSSL security level 0): reads the leaf certificate and the version the server picks.
2. *verify* — the default client context, with the configured CA file or the system store,
   hostname checking off: does the chain verify? (the hostname is judged on the certificate.)
   Against a server that offers nothing newer than TLS 1.1 this connection, too, allows TLS 1.0
   at security level 0, so that the chain is still judged (the protocol check fails anyway).
3. *legacy* — one connection per old protocol (TLS 1.0, TLS 1.1) with ``min = max = version``:
   does the server accept it? OpenSSL 3 refuses TLS < 1.2 below security level 0 even as a
   client, so these contexts set ``DEFAULT:@SECLEVEL=0``; a client that still cannot offer the
   version reports it as *not testable*, never as refused.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from lms_opscheck.config.model import Timeouts
from lms_opscheck.probes.errors import NoAnswer, Rejected, Unreachable, Unreadable

VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
LEGACY = {"TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1}


@dataclass(frozen=True)
class Certificate:
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    names: tuple[str, ...]  # subjectAltName DNS names and IP addresses
    self_issued: bool
    sha256: str

    def left(self, now: datetime) -> timedelta:
        """Time until it expires (negative once expired)."""
        return self.not_after - now

    def matches(self, name: str) -> bool:
        """``name`` is one of its subjectAltNames (RFC 6125: a wildcard covers one left label)."""
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            address = None
        for entry in self.names:
            if address is not None:
                if entry == str(address):
                    return True
                continue
            if _dns_match(entry.lower(), name.lower().rstrip(".")):
                return True
        return False

    def __str__(self) -> str:
        return (
            f"{self.subject} issued by {self.issuer}, valid until {self.not_after:%Y-%m-%d %H:%M}Z"
        )


def _dns_match(pattern: str, name: str) -> bool:
    if pattern == name:
        return True
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:] and "*" not in pattern[2:]
    return False


def read_certificate(data: bytes) -> Certificate:
    """The first certificate of PEM text, or a DER certificate."""
    cert = (
        x509.load_pem_x509_certificate(data)
        if b"-----BEGIN CERTIFICATE-----" in data
        else x509.load_der_x509_certificate(data)
    )
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += san.get_values_for_type(x509.DNSName)
        names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    return Certificate(
        subject=_name(cert.subject),
        issuer=_name(cert.issuer),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        names=tuple(names),
        self_issued=cert.issuer == cert.subject,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _name(name: x509.Name) -> str:
    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(common[0].value) if common else name.rfc4514_string() or "(empty name)"


@dataclass(frozen=True)
class Handshake:
    url: str
    server_name: str  # the name the certificate must carry
    certificate: Certificate
    version: str  # negotiated by the *inspect* connection: the best the server offers
    cipher: str
    chain_error: str | None  # None: the chain verified against ``trust``
    trust: str  # "system store" or the CA file
    legacy: dict[str, bool | None]  # old version -> accepted (None: client cannot offer it)
    measured_at: datetime

    def __str__(self) -> str:
        return f"{self.url} ({self.server_name})"


def handshake(
    url: str, server_name: str | None, ca_file: Path | None, timeouts: Timeouts
) -> Handshake:
    """Measure ``url`` (https://host[:port]); errors name the URL and what failed."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    name = server_name or host
    inspect = _client_context(verify=False, seclevel0=True)
    with _old_versions_allowed():
        inspect.minimum_version = ssl.TLSVersion.TLSv1
    try:
        with _connect(url, host, port, name, inspect, timeouts) as tls:
            der = tls.getpeercert(binary_form=True)
            version, cipher = tls.version() or "?", (tls.cipher() or ("?",))[0]
    except ssl.SSLError as exc:
        raise Rejected(url, f"TLS handshake failed ({exc.reason or exc})") from None
    if not der:
        raise Unreadable(url, "the server presented no certificate")
    certificate = read_certificate(der)
    verify = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    verify.check_hostname = False  # judged on the certificate itself (Certificate.matches)
    if not at_least(version, "TLSv1.2"):
        # The server speaks nothing newer (CRT-04 fails it): judge its chain all the same.
        verify.set_ciphers("DEFAULT:@SECLEVEL=0")
        with _old_versions_allowed():
            verify.minimum_version = ssl.TLSVersion.TLSv1
    chain_error = _chain_error(url, host, port, name, verify, timeouts)
    legacy = {label: _accepts(url, host, port, name, v, timeouts) for label, v in LEGACY.items()}
    return Handshake(
        url=url,
        server_name=name,
        certificate=certificate,
        version=version,
        cipher=cipher,
        chain_error=chain_error,
        trust=str(ca_file) if ca_file else "system store",
        legacy=legacy,
        measured_at=datetime.now(UTC),
    )


def at_least(version: str, minimum: str) -> bool:
    return version in VERSIONS and VERSIONS.index(version) >= VERSIONS.index(minimum)


def _client_context(*, verify: bool, seclevel0: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if seclevel0:  # OpenSSL 3 will not speak TLS 1.0/1.1 (SHA-1 handshakes) above level 0
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


class _connect:
    """A TLS connection within the environment's timeouts; errors say what failed."""

    def __init__(
        self, url: str, host: str, port: int, name: str, ctx: ssl.SSLContext, t: Timeouts
    ) -> None:
        self.args = (url, host, port, name, ctx, t)
        self.tls: ssl.SSLSocket | None = None

    def __enter__(self) -> ssl.SSLSocket:
        url, host, port, name, ctx, timeouts = self.args
        try:
            raw = socket.create_connection((host, port), timeout=timeouts.connect.total_seconds())
        except TimeoutError:
            raise Unreachable(url, "connect timed out") from None
        except OSError as exc:
            raise Unreachable(url, f"cannot connect ({exc.strerror or exc})") from None
        raw.settimeout(timeouts.request.total_seconds())
        sni = None if _is_address(name) else name
        try:
            self.tls = ctx.wrap_socket(raw, server_hostname=sni)
        except TimeoutError:
            raw.close()
            raise NoAnswer(url, "connected but the TLS handshake did not finish in time") from None
        except ssl.SSLError:
            raw.close()
            raise
        except OSError as exc:
            raw.close()
            raise NoAnswer(url, f"the connection closed during the handshake ({exc})") from None
        return self.tls

    def __exit__(self, *exc: object) -> None:
        if self.tls is not None:
            self.tls.close()


def _chain_error(
    url: str, host: str, port: int, name: str, ctx: ssl.SSLContext, timeouts: Timeouts
) -> str | None:
    try:
        with _connect(url, host, port, name, ctx, timeouts):
            return None
    except ssl.SSLCertVerificationError as exc:
        return str(exc.verify_message or exc.reason or exc)
    except ssl.SSLError as exc:
        raise Rejected(url, f"handshake for chain verification failed ({exc.reason})") from None


def _accepts(
    url: str, host: str, port: int, name: str, version: ssl.TLSVersion, timeouts: Timeouts
) -> bool | None:
    ctx = _client_context(verify=False, seclevel0=True)
    try:
        with _old_versions_allowed():
            ctx.minimum_version = ctx.maximum_version = version
    except (ValueError, ssl.SSLError):
        return None
    started = time.monotonic()
    try:
        with _connect(url, host, port, name, ctx, timeouts) as tls:
            return tls.version() == _label(version)
    except ssl.SSLError as exc:
        # The client refusing before anything was sent means it cannot test this version.
        if "NO_PROTOCOLS_AVAILABLE" in str(exc).upper() and time.monotonic() - started < 0.5:
            return None
        return False
    except (NoAnswer, Unreachable):
        return False


_WARNINGS_LOCK = threading.Lock()


@contextmanager
def _old_versions_allowed() -> Iterator[None]:
    """Python deprecates naming TLS 1.0/1.1; offering them on purpose is the measurement.
    (catch_warnings swaps process-wide state: one thread at a time, this message only.)"""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"ssl\.TLSVersion\.TLSv1", category=DeprecationWarning
        )
        yield


def _label(version: ssl.TLSVersion) -> str:
    return {ssl.TLSVersion.TLSv1: "TLSv1", ssl.TLSVersion.TLSv1_1: "TLSv1.1"}.get(version, "")


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
