"""ssh failures are told apart, in plain words, against a real sshd on 127.0.0.1."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from lms_opscheck.config.model import Host
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Rejected, Unreachable
from lms_opscheck.probes.hosts import shell_for, ssh_failure
from tests.support.sshd import MISSING, SSHD, Sshd, running_sshd
from tests.support.stacks import black_hole, closed_port

SECOND = timedelta(seconds=1)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not SSHD.exists():
        pytest.skip(MISSING)
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def failure(host: Host) -> MeasurementError:
    shell = shell_for("db-1", host, timedelta(seconds=2))
    with pytest.raises(MeasurementError) as raised:
        shell.run(["true"], 5 * SECOND)
    return raised.value


def assert_plain(error: MeasurementError) -> None:
    text = str(error)
    assert "b'" not in text and "\\r" not in text and "\\n" not in text and "))" not in text
    assert "CommandResult" not in text


def test_a_healthy_host_runs_the_command(sshd: Sshd) -> None:
    shell = shell_for("db-1", Host(**sshd.host()), timedelta(seconds=2))  # type: ignore[arg-type]
    done = shell.run(["sh", "-c", "echo ok"], 5 * SECOND)
    assert done.rc == 0 and done.stdout == b"ok\n"


def test_unresolvable_name_closed_port_and_wrong_key_say_three_different_things(
    sshd: Sshd, tmp_path: Path
) -> None:
    good = sshd.host()
    other_key = tmp_path / "other_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True
    )
    name = failure(Host(**{**good, "uri": "ssh://root@no-such-host.invalid:22"}))  # type: ignore[arg-type]
    refused = failure(Host(**{**good, "uri": f"ssh://root@127.0.0.1:{closed_port()}"}))  # type: ignore[arg-type]
    denied = failure(Host(**{**good, "identity_file": str(other_key)}))  # type: ignore[arg-type]
    assert isinstance(name, Unreachable)
    assert "ssh could not resolve the host name: " in name.problem
    assert "no-such-host.invalid" in name.problem
    assert isinstance(refused, Unreachable)
    assert "ssh connection refused (nothing listens on that port" in refused.problem
    assert "Connection refused" in refused.problem
    assert isinstance(denied, Rejected)
    assert "ssh authentication failed (the server did not accept the key): " in denied.problem
    assert "Permission denied (publickey)" in denied.problem
    assert (
        len(
            {
                name.problem.split(":")[0],
                refused.problem.split(":")[0],
                denied.problem.split(":")[0],
            }
        )
        == 3
    )
    for error in (name, refused, denied):
        assert_plain(error)
        assert "no answer within the connect timeout" not in error.problem
    assert denied.target == sshd.uri


def test_unknown_host_key_is_a_host_key_failure(sshd: Sshd, tmp_path: Path) -> None:
    strict = tmp_path / "ssh_config"
    strict.write_text(
        f"Host *\n  StrictHostKeyChecking yes\n  UserKnownHostsFile {tmp_path / 'known'}\n"
        "  IdentitiesOnly yes\n  LogLevel ERROR\n"
    )
    error = failure(Host(**{**sshd.host(), "ssh_config": str(strict)}))  # type: ignore[arg-type]
    assert isinstance(error, Rejected)
    assert "ssh host key verification failed" in error.problem
    assert_plain(error)


def test_a_host_that_never_answers_is_a_timeout(sshd: Sshd) -> None:
    with black_hole() as port:
        error = failure(Host(**{**sshd.host(), "uri": f"ssh://root@127.0.0.1:{port}"}))  # type: ignore[arg-type]
    assert isinstance(error, NoAnswer)
    assert "ssh got no answer within the connect timeout (2s): " in error.problem
    assert_plain(error)


def test_remote_command_exiting_255_is_not_taken_for_a_connection_problem(sshd: Sshd) -> None:
    shell = shell_for("db-1", Host(**sshd.host()), timedelta(seconds=2))  # type: ignore[arg-type]
    with pytest.raises(MeasurementError) as raised:
        shell.run(["sh", "-c", "echo disk on fire >&2; exit 255"], 5 * SECOND)
    error = raised.value
    assert type(error) is MeasurementError
    assert error.problem == "the remote command failed (exit status 255): disk on fire"


@pytest.mark.parametrize(
    ("stderr", "kind", "words"),
    [
        (
            "ssh: Could not resolve hostname db-9: Temporary failure in name resolution\r\n",
            Unreachable,
            "could not resolve",
        ),
        ("ssh: connect to host 10.0.0.9 port 22: No route to host\r\n", Unreachable, "reach"),
        (
            "Warning: Permanently added '[h]:22' (ED25519) to the list of known hosts.\r\n"
            "root@h: Permission denied (publickey).\r\n",
            Rejected,
            "authentication failed",
        ),
        ("Connection timed out during banner exchange\r\n", NoAnswer, "no answer"),
        (
            "@@@@@@@@\r\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n",
            Rejected,
            "host key",
        ),
    ],
)
def test_ssh_words_map_to_causes(stderr: str, kind: type, words: str) -> None:
    error = ssh_failure("ssh://root@h:22", stderr, 2)
    assert type(error) is kind and words in error.problem
    assert "Permanently added" not in error.problem and "\r" not in error.problem
