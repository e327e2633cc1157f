"""systemd service + timer: `systemd-analyze verify` finds nothing to say about them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from lms_opscheck.config.loader import ENVIRONMENTS_DIR
from tests.deploy.conftest import DEPLOY, references, run, tool

UNITS = DEPLOY / "systemd"
EXECUTABLE = "/opt/lms-opscheck/venv/bin/lms-opscheck"
INSTANCES = [
    "lms-opscheck-daily@prod.service",
    "lms-opscheck-daily@prod.timer",
    "lms-opscheck-weekly@prod.service",
    "lms-opscheck-weekly@prod.timer",
]


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Key -> values of a unit file (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def image(root: Path, units: Path = UNITS) -> Path:
    """A root for `systemd-analyze verify --root`: the units as shipped in /etc/systemd/system,
    the distribution's own units (sysinit.target, ...) and an executable where ExecStart points
    (the suite is not installed at /opt on a test machine)."""
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    shutil.copytree(units, root / "etc/systemd/system")
    executable = root / EXECUTABLE.lstrip("/")
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\nexit 0\n")
    executable.chmod(0o755)
    return root


def verify(root: Path) -> str:
    analyze = tool("systemd-analyze", "systemd")
    if not Path("/usr/lib/systemd/system/sysinit.target").exists():
        pytest.skip("no /usr/lib/systemd/system/sysinit.target to verify against (Debian systemd)")
    result = run(analyze, "verify", f"--root={root}", *INSTANCES)
    # systemd-analyze exits 0 on many problems it prints ("Failed to parse ..., ignoring"):
    # any output at all is a finding.
    output = (result.stdout + result.stderr).strip()
    return output if output or result.returncode == 0 else f"exit {result.returncode}"


def test_systemd_analyze_verify_has_nothing_to_say(tmp_path: Path) -> None:
    assert verify(image(tmp_path)) == ""


@pytest.mark.parametrize(
    ("unit", "old", "new"),
    [
        ("lms-opscheck-daily@.service", "Type=oneshot", "Type=oneshott"),
        ("lms-opscheck-daily@.service", "KillSignal=SIGTERM", "KillSignal=SIGTREM"),
        ("lms-opscheck-weekly@.service", "ProtectSystem=strict", "ProtectSystem=strictly"),
        ("lms-opscheck-daily@.timer", "OnCalendar=*-*-* 06:10:00", "OnCalendar=Mun 06:10"),
        ("lms-opscheck-weekly@.timer", "Persistent=true", "Persistent=ja"),
    ],
)
def test_the_verification_catches_a_broken_unit(
    tmp_path: Path, unit: str, old: str, new: str
) -> None:
    """Each of these makes systemd-analyze print a complaint; some of them exit 0."""
    broken = tmp_path / "units"
    shutil.copytree(UNITS, broken)
    text = (broken / unit).read_text()
    assert old in text
    (broken / unit).write_text(text.replace(old, new))
    assert verify(image(tmp_path / "root", broken)) != ""


def test_the_service_is_bounded_hardened_and_writes_where_it_must() -> None:
    for name in ("lms-opscheck-daily@.service", "lms-opscheck-weekly@.service"):
        unit = unit_settings(UNITS / name)
        assert unit["Type"] == ["oneshot"]
        assert unit["User"] == ["lms-opscheck"]
        assert unit["KillSignal"] == ["SIGTERM"]  # the suite writes its results on SIGTERM
        assert unit["TimeoutStartSec"][0].endswith("min")
        assert unit["EnvironmentFile"] == ["/etc/lms-opscheck/%i.env"]
        assert unit["ProtectSystem"] == ["strict"] and unit["NoNewPrivileges"] == ["yes"]
        # run folders under the working directory, which is the (writable) state directory
        assert unit["WorkingDirectory"] == ["/var/lib/lms-opscheck"]
        assert unit["StateDirectory"] == ["lms-opscheck"]
        (command,) = unit["ExecStart"]
        assert command.startswith(f"{EXECUTABLE} -m ") and "--env %i" in command
    daily = unit_settings(UNITS / "lms-opscheck-daily@.service")
    (textfile,) = re.findall(r"--textfile (\S+)", daily["ExecStart"][0])
    assert daily["ReadWritePaths"] == [str(Path(textfile).parent)]
    for name in ("lms-opscheck-daily@.timer", "lms-opscheck-weekly@.timer"):
        timer = unit_settings(UNITS / name)
        assert timer["Persistent"] == ["true"] and timer["RandomizedDelaySec"]


def test_the_exposure_score_stays_low(tmp_path: Path) -> None:
    """systemd's own hardening audit of the shipped service (offline): 'OK' or better."""
    analyze = tool("systemd-analyze", "systemd")
    root = image(tmp_path)
    result = run(
        analyze, "security", "--offline=true", f"--root={root}", "lms-opscheck-daily@prod.service"
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 3.0, match.group(0)


def test_the_secrets_example_provides_every_variable_prod_example_references() -> None:
    referenced = references((ENVIRONMENTS_DIR / "prod.example.yaml").read_text())
    example = (UNITS / "prod.env.example").read_text()
    provided = {line.split("=")[0] for line in example.splitlines() if re.match(r"[A-Z_]+=", line)}
    assert referenced and referenced <= provided, referenced - provided
