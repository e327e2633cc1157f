"""Kubernetes manifests: kubernetes-validate --strict, and what its schemas do not check."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from lms_opscheck.config.loader import load_environment
from tests.deploy.conftest import DEPLOY, references, run

MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
ENVIRONMENTS = ("prod", "staging")
RESULTS_MOUNT = "/var/lib/lms-opscheck"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def objects(kind: str) -> list[dict[str, Any]]:
    return [d for path in MANIFESTS for d in documents(path) if d["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in objects(kind) if d["metadata"]["name"] == name]
    return found


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    specs = [
        (c["metadata"]["name"], c["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        for c in objects("CronJob")
    ]
    return specs + [
        (d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in objects("Deployment")
    ]


def validator() -> str:
    """The venv's own kubernetes-validate (a dev dependency), else one on PATH."""
    beside = Path(sys.executable).parent / "kubernetes-validate"
    found = str(beside) if beside.exists() else shutil.which("kubernetes-validate")
    if found is None:
        pytest.skip("kubernetes-validate is not installed (PyPI; in the dev extra)")
    return found


def test_kubernetes_validate_strict_accepts_every_manifest() -> None:
    result = run(validator(), "--strict", *map(str, MANIFESTS), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    total = sum(len(documents(p)) for p in MANIFESTS)
    assert result.stdout.count(" passed for resource ") == total, result.stdout


def test_kubernetes_validate_strict_rejects_an_unknown_field(tmp_path: Path) -> None:
    """The validation is not a formality: a misspelt field fails it."""
    broken = tmp_path / "env-prod.yaml"
    text = (DEPLOY / "kubernetes" / "env-prod.yaml").read_text()
    broken.write_text(text.replace("activeDeadlineSeconds:", "activeDeadlineSecond:", 1))
    result = run(validator(), "--strict", str(broken), timeout=120)
    assert result.returncode != 0 and "activeDeadlineSecond" in result.stdout + result.stderr


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_daily_and_one_weekly_cronjob_per_environment(env: str) -> None:
    daily, weekly = (
        named("CronJob", f"lms-opscheck-{env}-daily"),
        named("CronJob", f"lms-opscheck-{env}-weekly"),
    )
    for cronjob, cadence in ((daily, "daily"), (weekly, "weekly")):
        spec = cronjob["spec"]
        args = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[:4] == ["-m", cadence, "--env", env], args
    daily_args = daily["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    textfile = daily_args[daily_args.index("--textfile") + 1]
    assert textfile == f"{RESULTS_MOUNT}/textfile/opscheck_{env}.prom"
    weekly_args = weekly["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--compliance-report" in weekly_args and "--textfile" not in weekly_args


def test_cronjob_fields_the_schema_does_not_check() -> None:
    """kubernetes-validate checks no enum values (concurrencyPolicy: Sometimes passes it)."""
    for cronjob in objects("CronJob"):
        name, spec = cronjob["metadata"]["name"], cronjob["spec"]
        assert spec["concurrencyPolicy"] in {"Allow", "Forbid", "Replace"}, name
        assert spec["concurrencyPolicy"] == "Forbid", name
        assert len(spec["schedule"].split()) == 5, name
        ZoneInfo(spec["timeZone"])  # a real IANA zone
        assert 0 < spec["startingDeadlineSeconds"] <= 6 * 3600, name
        assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1, name
        job = spec["jobTemplate"]["spec"]
        assert 0 < job["activeDeadlineSeconds"] <= 2 * 3600, name
        pod = job["template"]["spec"]
        assert pod["restartPolicy"] == "Never", name  # podFailurePolicy needs Never
        # the SIGTERM path writes the results of the checks done so far: give it time
        assert pod["terminationGracePeriodSeconds"] >= 30, name
        for rule in job.get("podFailurePolicy", {}).get("rules", []):
            assert rule["action"] in {"FailJob", "Ignore", "Count", "FailIndex"}, name
            codes = rule.get("onExitCodes")
            if codes:
                assert codes["operator"] in {"In", "NotIn"}
                assert 2 not in codes["values"], "an interrupted run (exit 2) may be retried"
                assert codes["containerName"] in {c["name"] for c in pod["containers"]}


@pytest.mark.parametrize(
    ("name", "pod"), pod_specs(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_pod_is_non_root_read_only_and_bounded(name: str, pod: dict[str, Any]) -> None:
    """Pod Security 'restricted' (the namespace enforces it), resources, and a writable place
    for everything the suite writes on a read-only root filesystem."""
    context = pod["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] > 0, name
    assert context["seccompProfile"]["type"] in {"RuntimeDefault", "Localhost"}, name
    assert pod["automountServiceAccountToken"] is False, name
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in pod["containers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
        if "node-exporter" in container["name"]:
            continue
        # run folders (out/<env>/<run>) under the working directory: the shared claim
        assert container["workingDir"] == RESULTS_MOUNT, name
        assert mounts[RESULTS_MOUNT]["persistentVolumeClaim"]["claimName"] == "lms-opscheck-results"
        assert "emptyDir" in mounts["/tmp"], name


def test_the_results_claim_is_shared() -> None:
    claim = named("PersistentVolumeClaim", "lms-opscheck-results")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for name, pod in pod_specs():
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for v in pod["volumes"]
            if "persistentVolumeClaim" in v
        }
        assert claims == {"lms-opscheck-results"}, name


def test_the_report_job_merges_every_environment_on_the_claim() -> None:
    pod = named("CronJob", "lms-opscheck-report")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["lms-opscheck-report"]
    assert container["args"][:2] == ["--all", f"{RESULTS_MOUNT}/out"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_environment_is_mounted_where_the_search_path_finds_it(env: str) -> None:
    config_map = named("ConfigMap", f"lms-opscheck-{env}")
    for cadence in ("daily", "weekly"):
        pod = named("CronJob", f"lms-opscheck-{env}-{cadence}")["spec"]["jobTemplate"]["spec"][
            "template"
        ]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = pod["containers"]
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        source = volumes[mounts["/etc/lms-opscheck/environments"]["name"]]["configMap"]
        assert source["name"] == config_map["metadata"]["name"]
        assert source["items"] == [{"key": f"{env}.yaml", "path": f"{env}.yaml"}]
        assert f"{env}.yaml" in config_map["data"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_secret_fills_every_variable_the_environment_references(
    env: str, tmp_path: Path
) -> None:
    """Every ${VAR} of the ConfigMap's environment comes from the Secret through an env var, and
    the file is one the suite loads (with those variables set)."""
    text = named("ConfigMap", f"lms-opscheck-{env}")["data"][f"{env}.yaml"]
    secret = named("Secret", f"lms-opscheck-{env}")
    referenced = references(text)
    assert referenced and referenced <= set(secret["stringData"]), referenced - set(
        secret["stringData"]
    )
    for cadence in ("daily", "weekly"):
        pod = named("CronJob", f"lms-opscheck-{env}-{cadence}")["spec"]["jobTemplate"]["spec"][
            "template"
        ]["spec"]
        from_secret = {
            e["name"]: e["valueFrom"]["secretKeyRef"]
            for e in pod["containers"][0]["env"]
            if "valueFrom" in e
        }
        for variable in referenced:
            assert from_secret[variable] == {"name": secret["metadata"]["name"], "key": variable}
    path = tmp_path / f"{env}.yaml"
    path.write_text(text)
    environment = load_environment(str(path), environ=dict.fromkeys(referenced, "a-test-secret"))
    assert environment.name == env and environment.strict


def test_the_ssh_key_is_a_file_never_an_environment_variable() -> None:
    for name, pod in pod_specs():
        for container in pod["containers"]:
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef", {})
                assert ref.get("key") != "id_ed25519", name
            assert "envFrom" not in container, f"{name}: list secrets one by one"


def test_schedules_spread_environments_apart() -> None:
    schedules = [c["spec"]["schedule"] for c in objects("CronJob")]
    assert len(schedules) == len(set(schedules)), schedules
    assert all(re.fullmatch(r"\d+ \d+ \* \* [*\d]", s) for s in schedules), schedules
