"""Host checks (HST-01..06) against real processes, real filesystems and a real sshd on 127.0.0.1,
over both backends (local:// and ssh://): healthy, then broken the way production breaks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.runner import SuiteRun, run_suite, write_env
from tests.support.sshd import MISSING, SSHD, Sshd, running_sshd
from tests.support.stacks import closed_port
from tests.support.volumes import fill, tmpfs

CHECKS = "checks/test_hosts.py"
#: A listener that stays up until killed; its command line carries the name it is started as.
SERVER = """\
import socket, sys, time
if len(sys.argv) > 1:
    s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
while True:
    time.sleep(60)
"""


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not SSHD.exists():
        pytest.skip(MISSING)
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@contextmanager
def program(folder: Path, name: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real process whose command line is ``python <folder>/<name> ARGS``; killed at the end."""
    path = folder / name
    path.write_text(SERVER)
    process = subprocess.Popen([sys.executable, str(path), *args])
    try:
        yield process
    finally:
        process.kill()
        process.wait(5)


def free_port() -> int:
    return closed_port()


def wait_listening(port: int) -> None:
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        threading.Event().wait(0.05)
    raise AssertionError(f"nothing listens on {port}")


def hosts_env(tmp: Path, hosts: dict[str, Any], **extra: Any) -> Path:
    config = {
        "name": "hosts",
        "timeouts": {"connect": "1s", "request": "2s", "deadline": "4s"},
        "hosts": hosts,
        **extra,
    }
    return write_env(tmp / "env.yaml", config)


def review(tmp: Path, env: Path, *args: str) -> SuiteRun:
    return run_suite("-m", "daily", f"--env={env}", CHECKS, *args, out=tmp / "out")


def both(sshd: Sshd, expect: dict[str, Any]) -> dict[str, Any]:
    """The same machine, reached here (local://) and through sshd (ssh://)."""
    return {
        "app-local": {"uri": "local://", "expect": expect},
        "app-ssh": {**sshd.host(), "expect": expect},
    }


def outcomes(run: SuiteRun) -> dict[str, str]:
    return {name: result.outcome for name, result in run.checks.items()}


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Real worker and API processes, a listening port, a data volume and an uploads volume."""
    token = os.urandom(3).hex()  # other stacks on this machine run celery too
    port = free_port()
    with ExitStack() as stack:
        worker = stack.enter_context(program(tmp_path, f"celery-{token}"))
        api = stack.enter_context(program(tmp_path, f"uvicorn-{token}", str(port)))
        wait_listening(port)
        data = stack.enter_context(tmpfs(tmp_path / "data", "4m", options="mode=0750"))
        uploads = stack.enter_context(tmpfs(tmp_path / "uploads", "1m", options="mode=0750"))
        yield {
            "token": token, "port": port, "worker": worker, "api": api,
            "data": data, "uploads": uploads,
        }  # fmt: skip


def expectations(machine: dict[str, Any], **uploads: Any) -> dict[str, Any]:
    token = machine["token"]
    return {
        "processes": [f"celery-{token}", f"uvicorn-{token}"],
        "ports": [machine["port"]],
        "mounts": [{"path": str(machine["data"]), "min_free": "20%"}],
        "uploads": {
            "path": str(machine["uploads"]), "owner": "root", "group": "root", "mode": "0750",
            "min_free": "10%", "write_probe": True, **uploads,
        },
    }  # fmt: skip


def test_a_healthy_host_passes_over_local_and_ssh_and_the_probe_leaves_nothing(
    tmp_path: Path, sshd: Sshd, machine: dict[str, Any]
) -> None:
    run = review(tmp_path, hosts_env(tmp_path, both(sshd, expectations(machine))))
    assert set(outcomes(run).values()) == {"passed"}, run.output
    assert len(run.checks) == 2 * 7  # 2 processes, 1 port, 1 mount, uploads x3 per host
    assert run.exit_code == 0
    assert "test_expected_process_is_running[app-ssh:celery-" in " ".join(run.checks)
    assert f"test_expected_port_is_listening[app-local:{machine['port']}]" in run.checks
    assert os.listdir(machine["uploads"]) == [], "the write probe left a file behind"


def test_stopped_worker_closed_port_wrong_owner_and_full_volume_each_fail_naming_it(
    tmp_path: Path, sshd: Sshd, machine: dict[str, Any]
) -> None:
    machine["worker"].kill()
    machine["worker"].wait(5)
    machine["api"].kill()  # its port closes with it
    machine["api"].wait(5)
    fill(machine["data"])
    os.chown(machine["uploads"], 65534, 65534)  # nobody:nogroup
    os.chmod(machine["uploads"], 0o700)
    fill(machine["uploads"])
    run = review(tmp_path, hosts_env(tmp_path, both(sshd, expectations(machine))))
    token, port = machine["token"], machine["port"]
    for host in ("app-local", "app-ssh"):
        worker = run.only(f"test_expected_process_is_running[{host}:celery-{token}]")
        assert worker.outcome == "failed", run.output
        assert f"no celery-{token} process on {host} (" in worker.message
        assert "expected at least 1" in worker.message
        closed = run.only(f"test_expected_port_is_listening[{host}:{port}]")
        assert closed.outcome == "failed"
        assert f"nothing listens on TCP port {port} on {host}" in closed.message
        assert f"expected a listener on {port}" in closed.message
        full = run.only(f"test_volume_is_mounted_with_free_space[{host}:{machine['data']}]")
        assert full.outcome == "failed"
        assert f"volume {machine['data']} on " in full.message
        assert "has 0 B free (0% of" in full.message and "minimum free is 20%" in full.message
        owner = run.only(f"test_uploads_directory_has_its_owner_and_mode[{host}]")
        assert owner.outcome == "failed"
        assert "owner is nobody (65534), expected root" in owner.message
        assert "mode is 0700, expected 0750" in owner.message
        space = run.only(f"test_uploads_volume_has_free_space[{host}]")
        assert space.outcome == "failed" and "minimum free is 10%" in space.message
        write = run.only(f"test_uploads_directory_accepts_a_write[{host}]")
        assert write.outcome == "failed"
        assert "could not create" in write.message
        assert "No space left on device" in write.message
    assert run.exit_code == 1
    assert os.listdir(machine["uploads"]) == ["filler"]


def test_a_read_only_uploads_folder_fails_the_write_probe_only(
    tmp_path: Path, sshd: Sshd, machine: dict[str, Any]
) -> None:
    # As root every permission check passes: a read-only filesystem is what refuses root.
    subprocess.run(["mount", "-o", "remount,ro", str(machine["uploads"])], check=True)
    run = review(tmp_path, hosts_env(tmp_path, both(sshd, expectations(machine))), "-k", "HST-06")
    for host in ("app-local", "app-ssh"):
        write = run.only(f"test_uploads_directory_accepts_a_write[{host}]")
        assert write.outcome == "failed", run.output
        assert f"write probe in uploads folder {machine['uploads']} on " in write.message
        assert "Read-only file system" in write.message


def test_a_folder_on_the_root_filesystem_is_not_a_mounted_volume(
    tmp_path: Path, sshd: Sshd
) -> None:
    folder = tmp_path / "not-mounted"
    folder.mkdir()
    run = review(tmp_path, hosts_env(tmp_path, both(sshd, {"mounts": [{"path": str(folder)}]})))
    for host in ("app-local", "app-ssh"):
        result = run.only(f"test_volume_is_mounted_with_free_space[{host}:{folder}]")
        assert result.outcome == "failed", run.output
        assert f"{folder} on " in result.message and " is not a mount point: it lies on " in (
            result.message
        )
        assert f"expected a volume mounted at {folder}" in result.message


@contextmanager
def counting_black_hole() -> Iterator[tuple[int, list[int]]]:
    """Accepts TCP connections, never answers, and counts them."""
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    server.settimeout(0.2)
    accepted: list[socket.socket] = []
    count = [0]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
                count[0] += 1
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1]), count
    finally:
        stop.set()
        thread.join(1)
        for conn in accepted:
            conn.close()
        server.close()


def test_a_dead_host_among_many_costs_one_connection_and_the_others_are_measured(
    tmp_path: Path, sshd: Sshd
) -> None:
    expect = {"processes": ["sshd"], "ports": [sshd.port], "mounts": [{"path": "/"}]}
    hosts = {f"app-{n}": {**sshd.host(), "expect": expect} for n in range(1, 7)}
    with counting_black_hole() as (port, connections):
        hosts["app-dead"] = {**sshd.host(), "uri": f"ssh://root@127.0.0.1:{port}", "expect": expect}
        run = review(tmp_path, hosts_env(tmp_path, hosts, fleet={"max_parallel": 4}))
        assert connections[0] == 1, "every check of the dead host paid its own connect timeout"
    dead = {name: r for name, r in run.checks.items() if "[app-dead:" in name}
    assert len(dead) == 3
    for result in dead.values():
        assert result.outcome == "error", run.output
        assert "ssh got no answer within the connect timeout (1s)" in result.message
    alive = Counter(r.outcome for name, r in run.checks.items() if name not in dead)
    assert alive == {"passed": 6 * 3, "skipped": 7 * 3}, run.output  # no uploads expected


def test_refused_key_and_unknown_host_key_are_named_and_nothing_examined_never_passes(
    tmp_path: Path, sshd: Sshd
) -> None:
    other_key = tmp_path / "other_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True
    )
    strict = tmp_path / "ssh_config"
    strict.write_text(
        f"Host *\n  StrictHostKeyChecking yes\n  UserKnownHostsFile {tmp_path / 'known'}\n"
        "  IdentitiesOnly yes\n  LogLevel ERROR\n"
    )
    expect = {"processes": ["sshd"]}
    hosts = {
        "wrong-key": {**sshd.host(), "identity_file": str(other_key), "expect": expect},
        "new-host-key": {**sshd.host(), "ssh_config": str(strict), "expect": expect},
        "bare": {"uri": "local://"},
        "empty": {"uri": "local://", "expect": {}},
    }
    run = review(tmp_path, hosts_env(tmp_path, hosts))
    key = run.only("test_expected_process_is_running[wrong-key:sshd]")
    assert key.outcome == "error" and "ssh authentication failed" in key.message, run.output
    assert "Permission denied (publickey)" in key.message
    host_key = run.only("test_expected_process_is_running[new-host-key:sshd]")
    assert host_key.outcome == "error"
    assert "ssh host key verification failed" in host_key.message
    for host, reason in (("bare", "hosts.bare.expect is absent"), ("empty", "hosts.empty.expect.")):
        results = {n: r for n, r in run.checks.items() if n.endswith(f"[{host}]")}
        assert len(results) == 6
        for result in results.values():
            assert result.outcome == "skipped" and f"not configured: {reason}" in result.message
    empty = run.only("test_expected_port_is_listening[empty]").message
    assert "not configured: hosts.empty.expect.ports is empty" in empty
    assert (
        "hosts.empty.expect.uploads is absent"
        in run.only("test_uploads_volume_has_free_space[empty]").message
    )
    strict_run = review(
        tmp_path / "strict", hosts_env(tmp_path, {"bare": hosts["bare"]}, strict=True)
    )
    assert set(outcomes(strict_run).values()) == {"error"}, strict_run.output
    for result in strict_run.checks.values():
        assert "strict environment: not configured: hosts.bare.expect is absent" in result.message
    assert strict_run.exit_code == 1
    nothing = review(tmp_path / "none", hosts_env(tmp_path, {}))
    assert set(outcomes(nothing).values()) == {"skipped"}
    assert "not configured: no host under hosts: expects processes" in (
        nothing.only("test_expected_process_is_running").message
    )


def test_a_windows_host_is_not_applicable_and_says_why(tmp_path: Path) -> None:
    hosts = {"win-1": {"uri": "winrm://ops@win-1.invalid", "expect": {"processes": ["w3wp"]}}}
    run = review(tmp_path, hosts_env(tmp_path, hosts), "-k", "HST-01")
    result = run.only("test_expected_process_is_running[win-1:w3wp]")
    assert result.outcome == "skipped", run.output
    assert "not applicable: win-1 is a winrm:// host" in result.message
    assert "POSIX shell" in result.message


def test_multiplexed_hosts_pass_and_leave_no_ssh_master_behind(tmp_path: Path, sshd: Sshd) -> None:
    expect = {"processes": ["sshd"], "ports": [sshd.port]}
    hosts = {f"app-{n}": {**sshd.host(), "expect": expect} for n in range(1, 4)}
    env = hosts_env(tmp_path, hosts, fleet={"multiplex": True, "max_parallel": 2})
    # A short private TMPDIR: the run's control sockets go there (a socket path is <= 107 bytes).
    temp = Path(tempfile.mkdtemp(prefix="hst-", dir="/tmp"))
    try:
        run = run_suite(
            *("-m", "daily", f"--env={env}", CHECKS),
            out=tmp_path / "out",
            env={"TMPDIR": str(temp)},
        )
        passed = Counter(r.outcome for r in run.checks.values())
        assert passed == {"passed": 6, "skipped": 3 * 4}, run.output
        masters = subprocess.run(
            ["pgrep", "-f", f"ControlPath={temp}/"], capture_output=True, text=True, check=False
        )
        assert masters.stdout == "", "an ssh master outlived the run"
        assert list(temp.iterdir()) == [], "the run left its control folder behind"
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def test_a_bad_expectation_is_a_one_line_configuration_error(tmp_path: Path) -> None:
    hosts = {"web-1": {"uri": "local://", "expect": {"uploads": {"path": "/srv", "mode": 750}}}}
    run = review(tmp_path, hosts_env(tmp_path, hosts))
    assert run.exit_code == 4, run.output
    assert "hosts.web-1.expect.uploads.mode" in run.stderr
    assert 'quoted string, e.g. "0750"' in run.stderr
    assert "Traceback" not in run.output
