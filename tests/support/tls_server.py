"""A real HTTPS (or HTTP) server on 127.0.0.1 for the TLS and header self-tests.

Certificates are made at test time with trustme (a CA and leaves, with chosen validity) or
``self_signed`` (cryptography). The server answers GET with chosen headers and per-path
statuses; ``versions`` limits the protocols it speaks (TLS 1.0 only needs OpenSSL security
level 0 on the server too).
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SECURE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy": "default-src 'none'",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


@dataclass
class Site:
    """What the server answers: headers on every answer, a status per path (else 404)."""

    headers: Mapping[str, str] = field(default_factory=lambda: dict(SECURE_HEADERS))
    paths: Mapping[str, int] = field(default_factory=lambda: {"/api/v1/health": 200})
    requests: list[str] = field(default_factory=list)


def leaf(
    ca: trustme.CA, tmp: Path, *names: str, days_left: float = 90, days_old: float = 10
) -> Path:
    """A PEM with key, leaf and chain for ``names``, valid until ``days_left`` days from now."""
    now = dt.datetime.now(dt.UTC)
    cert = ca.issue_cert(
        *(names or ("localhost", "127.0.0.1")),
        not_before=now - dt.timedelta(days=days_old),
        not_after=now + dt.timedelta(days=days_left),
    )
    path = tmp / f"leaf-{len(list(tmp.glob('leaf-*')))}.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(path))
    return path


def self_signed(tmp: Path, name: str = "localhost", days_left: float = 90) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days_left))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = tmp / "self-signed.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    return path


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.requests.append(self.path)
            status = site.paths.get(self.path.split("?")[0], 404)
            body = b'{"status":"ok"}' if status == 200 else b'{"detail":"Not Found"}'
            self.send_response(status)
            for name, value in site.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(
    pem: Path | None,
    site: Site | None = None,
    versions: tuple[ssl.TLSVersion, ssl.TLSVersion] | None = None,
) -> Iterator[str]:
    """Serve ``site`` over HTTPS with ``pem`` (key + chain), or plain HTTP without; yield the
    base URL (https://127.0.0.1:PORT). Stopped at the end, even on failure."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site or Site()))
    server.daemon_threads = True
    scheme = "http"
    if pem is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pem))
        if versions is not None:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():  # old versions on purpose: the server under test
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version, ctx.maximum_version = versions
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
