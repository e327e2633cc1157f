"""Hosts: every configured host runs its processes, listens on its ports, has its volumes mounted
with room, and keeps an uploads folder the application can write to (3.2, 4.3).

Each host is visited once per run (fixtures/hosts.py): one batched shell over one ssh connection,
``fleet.max_parallel`` hosts at a time; the checks below judge what that visit saw.
"""

from __future__ import annotations

import pytest

from lms_opscheck.config.levels import percent, size
from lms_opscheck.fixtures.evidence import EvidenceLog
from lms_opscheck.fixtures.hosts import HostItem, HostRound, not_configured
from lms_opscheck.probes import uploads as uploads_probe
from lms_opscheck.probes.disk import DiskUsage
from lms_opscheck.probes.errors import Unreadable
from lms_opscheck.probes.uploads import WriteProbe

SCALING = "4.3 Infrastructure Scaling"
FILE_STORAGE = "3.2 File Storage Issues"


def _free_enough(
    evidence: EvidenceLog, usage: DiskUsage, floor: int, minimum: str, what: str
) -> None:
    __tracebackhide__ = True
    usable = usage.used + usage.available
    evidence.record("available", usage.available, unit="bytes", threshold=floor, target=usage.where)
    evidence.record("size", usage.size, unit="bytes", target=usage.where)
    free = usage.available / usable if usable else 0.0
    assert usage.available >= floor, (
        f"{what} {usage.where} has {size(usage.available)} free ({percent(free)} of "
        f"{size(usable)}, filesystem {usage.mount}); minimum free is {minimum} "
        f"({size(floor)})"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "HST-01",
    severity="critical",
    runbook=SCALING,
    remediation="Start the service (systemctl start / docker compose up -d) and read its log "
    "for why it stopped; runbook 3.1 if the API is down.",
)
def test_expected_process_is_running(
    process_on_host: HostItem, host_round: HostRound, pytestconfig: pytest.Config,
    evidence: EvidenceLog,
) -> None:  # fmt: skip
    """Each expected process (matched on its command line) runs on its host."""
    processes = host_round.processes(pytestconfig, process_on_host)
    name, where = str(process_on_host.item), host_round.label(process_on_host)
    matches = [p for p in processes if p.runs(name)]
    evidence.record("matching_processes", len(matches), threshold=">= 1", target=where)
    evidence.record("processes_seen", len(processes), target=where)
    if matches:
        evidence.record("pids", " ".join(str(p.pid) for p in matches[:20]), target=where)
    assert matches, (
        f"no {name} process on {where}: 0 of its {len(processes)} processes has a "
        f"command-line word {name} (or .../{name}); expected at least 1"
    )


@pytest.mark.daily
@pytest.mark.post_deploy
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "HST-02",
    severity="high",
    runbook=SCALING,
    remediation="Check the service bound to this port is running and configured to listen "
    "on it (ss -ltnp).",
)
def test_expected_port_is_listening(
    port_on_host: HostItem, host_round: HostRound, pytestconfig: pytest.Config,
    evidence: EvidenceLog,
) -> None:  # fmt: skip
    """Each expected TCP port has a listener on its host."""
    listening = host_round.listening(pytestconfig, port_on_host)
    port, where = int(str(port_on_host.item)), host_round.label(port_on_host)
    evidence.record("listening", port in listening, threshold="listening", target=where)
    shown = ", ".join(str(p) for p in sorted(listening)[:15]) or "none"
    assert port in listening, (
        f"nothing listens on TCP port {port} on {where} (listening: {shown}); "
        f"expected a listener on {port}"
    )


@pytest.mark.daily
@pytest.mark.incident
@pytest.mark.p1
@pytest.mark.control(
    "HST-03",
    severity="high",
    runbook=SCALING,
    remediation="Mount the volume (mount -a; check /etc/fstab or the compose volumes) or free "
    "/ grow it (runbook 3.2: df -h).",
)
def test_volume_is_mounted_with_free_space(
    mount_on_host: HostItem, host_round: HostRound, pytestconfig: pytest.Config,
    evidence: EvidenceLog,
) -> None:  # fmt: skip
    """Each expected volume is a mount point of its own, with at least its minimum free space."""
    usage = host_round.mount(pytestconfig, mount_on_host)
    path = str(mount_on_host.item)
    evidence.record("mounted_at", usage.mount, threshold=path, target=usage.where)
    assert usage.mount == path, (
        f"{usage.where} is not a mount point: it lies on the filesystem mounted at "
        f"{usage.mount} ({usage.filesystem}); expected a volume mounted at {path}"
    )
    expected = next(m for m in host_round.expectations(mount_on_host).mounts if m.path == path)
    if expected.min_free is not None:
        floor = expected.min_free.floor(usage.used + usage.available)
        _free_enough(evidence, usage, floor, str(expected.min_free), "volume")


@pytest.mark.daily
@pytest.mark.incident
@pytest.mark.p2
@pytest.mark.control(
    "HST-04",
    severity="high",
    runbook=FILE_STORAGE,
    remediation="Recreate the folder or fix it: chown OWNER:GROUP and chmod MODE on the uploads "
    "path (runbook 3.2: verify uploads directory permissions).",
)
def test_uploads_directory_has_its_owner_and_mode(
    uploads_on_host: HostItem, host_round: HostRound, pytestconfig: pytest.Config,
    evidence: EvidenceLog,
) -> None:  # fmt: skip
    """The uploads folder exists as a directory with the configured owner, group and mode."""
    found = host_round.uploads(pytestconfig, uploads_on_host)
    expected = host_round.uploads_expectation(uploads_on_host)
    assert found.exists, f"uploads folder {found.where} does not exist; expected a directory"
    evidence.record("owner", f"{found.owner}:{found.group}", target=found.where)
    evidence.record("mode", found.mode, threshold=expected.mode, target=found.where)
    wrong = uploads_probe.ownership_problems(found, expected)
    assert not wrong, f"uploads folder {found.where}: " + "; ".join(wrong)


@pytest.mark.daily
@pytest.mark.incident
@pytest.mark.p2
@pytest.mark.control(
    "HST-05",
    severity="high",
    runbook=FILE_STORAGE,
    remediation="Free space on the uploads volume or grow it (runbook 3.2: df -h); move old "
    "files to object storage.",
)
def test_uploads_volume_has_free_space(
    uploads_on_host: HostItem, host_round: HostRound, pytestconfig: pytest.Config,
    evidence: EvidenceLog,
) -> None:  # fmt: skip
    """The filesystem holding the uploads folder has at least its minimum free space."""
    found = host_round.uploads(pytestconfig, uploads_on_host)
    expected = host_round.uploads_expectation(uploads_on_host)
    if expected.min_free is None:
        not_configured(pytestconfig, f"hosts.{uploads_on_host.host}.expect.uploads.min_free")
    assert found.exists, f"uploads folder {found.where} does not exist; no free space to measure"
    if isinstance(found.usage, Exception) or found.usage is None:
        raise found.usage or Unreadable(found.where, "df was not read")
    usage = found.usage
    assert expected.min_free is not None
    floor = expected.min_free.floor(usage.used + usage.available)
    _free_enough(evidence, usage, floor, str(expected.min_free), "uploads folder")


@pytest.mark.daily
@pytest.mark.incident
@pytest.mark.p2
@pytest.mark.control(
    "HST-06",
    severity="high",
    runbook=FILE_STORAGE,
    remediation="Find why the folder refuses writes (read-only or full filesystem, immutable "
    "flag, permissions: runbook 3.2 'test file system operations locally').",
)
def test_uploads_directory_accepts_a_write(
    uploads_write_probe: WriteProbe, evidence: EvidenceLog
) -> None:
    """Opt-in: one file is created, read back and removed in the uploads folder."""
    probe = uploads_write_probe
    evidence.record("written", probe.written, unit="bytes", target=probe.where)
    assert probe.problem is None, f"write probe in uploads folder {probe.where}: {probe.problem}"
