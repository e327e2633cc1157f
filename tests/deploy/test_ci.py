"""CI post-deploy jobs: the vendors' schemas (check-jsonschema, offline) and the keys we rely on."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import DEPLOY, run

GITLAB = DEPLOY / "ci" / "gitlab-post-deploy.yml"
GITHUB = DEPLOY / "ci" / "github-post-deploy.yml"
COMMAND = "lms-opscheck -m post_deploy --env staging --fail-on high"


def check_jsonschema() -> str:
    beside = Path(sys.executable).parent / "check-jsonschema"
    found = str(beside) if beside.exists() else shutil.which("check-jsonschema")
    if found is None:
        pytest.skip("check-jsonschema is not installed (PyPI; in the dev extra)")
    return found


@pytest.mark.parametrize(
    ("schema", "path"),
    [("vendor.gitlab-ci", GITLAB), ("vendor.github-workflows", GITHUB)],
    ids=["gitlab", "github"],
)
def test_the_vendor_schema_accepts_it(schema: str, path: Path) -> None:
    """check-jsonschema ships these schemas: nothing is fetched."""
    result = run(check_jsonschema(), "--builtin-schema", schema, str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


@pytest.mark.parametrize(
    ("schema", "path", "old", "new"),
    [
        ("vendor.gitlab-ci", GITLAB, "when: always", "when: allways"),
        ("vendor.github-workflows", GITHUB, "    runs-on:", "    runs_on:"),
    ],
    ids=["gitlab", "github"],
)
def test_the_vendor_schema_rejects_a_mistake(
    tmp_path: Path, schema: str, path: Path, old: str, new: str
) -> None:
    broken = tmp_path / path.name
    broken.write_text(path.read_text().replace(old, new, 1))
    result = run(check_jsonschema(), "--builtin-schema", schema, str(broken))
    assert result.returncode == 1, result.stdout + result.stderr


def gitlab_job() -> dict[str, Any]:
    (job,) = [v for k, v in yaml.safe_load(GITLAB.read_text()).items() if not k.startswith(".")]
    assert isinstance(job, dict)
    return job


def test_gitlab_publishes_junit_and_keeps_the_run_folder_even_on_failure() -> None:
    job = gitlab_job()
    (script,) = job["script"]
    assert script.startswith(COMMAND) and '--out "$OPSCHECK_RUN"' in script
    artifacts = job["artifacts"]
    assert artifacts["when"] == "always"
    assert artifacts["reports"]["junit"] == "opscheck-run/junit.xml"
    assert "opscheck-run/" in artifacts["paths"]
    assert job["variables"]["OPSCHECK_RUN"] == "$CI_PROJECT_DIR/opscheck-run"
    assert job["retry"]["exit_codes"] == [2]  # an interruption, never a finding


def test_github_publishes_junit_and_keeps_the_run_folder_even_on_failure() -> None:
    workflow = yaml.safe_load(GITHUB.read_text())
    # PyYAML reads the key `on` as True (YAML 1.1); GitHub reads it as "on".
    triggers = workflow.get("on", workflow.get(True))
    assert "workflow_run" in triggers and triggers["workflow_run"]["types"] == ["completed"]
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    (checks,) = [s for s in steps if COMMAND in s.get("run", "")]
    assert "--out opscheck-run" in checks["run"]
    assert set(checks["env"]) == {
        "LMS_MONITOR_DB_PASSWORD",
        "LMS_REDIS_PASSWORD",
        "LMS_SMOKE_PASSWORD",
        "LMS_EXPECTED_VERSION",
    }
    after = steps[steps.index(checks) + 1 :]
    junit = [s for s in after if "junit" in s.get("uses", "")]
    upload = [s for s in after if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert junit and upload
    for step in (*junit, *upload):
        assert step["if"] == "always()", step
    assert junit[0]["with"]["report_paths"] == "opscheck-run/junit.xml"
    assert upload[0]["with"]["path"] == "opscheck-run/"
    assert workflow["permissions"]["checks"] == "write"
