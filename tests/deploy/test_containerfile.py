"""The container image definition, read with BuildKit's own parser (it is not built here:
no container registry is reachable for the base image, and no container engine runs)."""

from __future__ import annotations

import dockerfile
import yaml

from tests.deploy.conftest import DEPLOY

CONTAINERFILE = DEPLOY / "Containerfile"
INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


def final_stage() -> list[dockerfile.Command]:
    commands = dockerfile.parse_file(str(CONTAINERFILE))
    start = max(i for i, c in enumerate(commands) if c.cmd == "FROM")
    return commands[start:]


def test_every_instruction_is_one_the_builder_knows() -> None:
    commands = dockerfile.parse_file(str(CONTAINERFILE))
    assert {c.cmd for c in commands} <= INSTRUCTIONS


def test_built_on_python_311_slim_and_installs_the_wheel() -> None:
    commands = dockerfile.parse_file(str(CONTAINERFILE))
    assert all(c.value[0] == "python:3.11-slim" for c in commands if c.cmd == "FROM")
    runs = [" ".join(c.value) for c in commands if c.cmd == "RUN"]
    assert any("pip wheel" in r and "--no-deps" in r for r in runs)
    assert any(
        "pip install" in r and "/wheels/*.whl" in r
        for r in [" ".join(c.value) for c in final_stage() if c.cmd == "RUN"]
    )


def test_the_wheel_is_built_with_a_compiler_and_run_without_one() -> None:
    """The log reader's native module is compiled in the wheel stage; the image runs it with
    only the C library (a slim image has no compiler, and needs none)."""
    commands = dockerfile.parse_file(str(CONTAINERFILE))
    start = max(i for i, c in enumerate(commands) if c.cmd == "FROM")
    build = [" ".join(c.value) for c in commands[:start] if c.cmd == "RUN"]
    assert any("gcc" in r for r in build)
    assert not any("gcc" in " ".join(c.value) for c in commands[start:] if c.cmd == "RUN")


def test_runs_as_the_same_non_root_user_as_the_kubernetes_pods() -> None:
    users = [c.value[0] for c in final_stage() if c.cmd == "USER"]
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid not in {"0", "root"}
    pods = [
        d
        for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "env-prod.yaml").read_text())
        if d["kind"] == "CronJob"
    ]
    for cronjob in pods:
        context = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["securityContext"]
        assert str(context["runAsUser"]) == uid


def test_the_entrypoint_is_the_console_command_in_exec_form() -> None:
    (entrypoint,) = [c for c in final_stage() if c.cmd == "ENTRYPOINT"]
    assert entrypoint.json, "shell form would not pass SIGTERM to the suite"
    assert list(entrypoint.value) == ["lms-opscheck"]
    workdirs = [c.value[0] for c in final_stage() if c.cmd == "WORKDIR"]
    assert workdirs[-1] == "/var/lib/lms-opscheck"  # the Kubernetes workingDir, the run folders


def test_the_build_context_leaves_local_state_out() -> None:
    ignored = (DEPLOY / "Containerfile.dockerignore").read_text().split()
    assert {".git", ".sandbox", "out"} <= set(ignored)
