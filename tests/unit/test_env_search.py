"""--env NAME is found along a documented search path; --env PATH is read as given."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lms_opscheck.config import ConfigError, available_environments, load_environment, search
from lms_opscheck.config.loader import peek_embedded
from lms_opscheck.config.search import EXAMPLE, PACKAGED_DIR, SearchDir, resolve, search_path


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A working directory, two folders on $LMS_OPSCHECK_ENV_PATH and a system folder."""
    folders = {
        name: tmp_path / name / "environments" for name in ("cwd", "path1", "path2", "system")
    }
    for folder in folders.values():
        folder.mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "cwd")
    listed = [str(folders["path1"]), "", str(folders["path2"])]  # an empty entry is skipped
    monkeypatch.setenv(search.ENV_PATH_VARIABLE, os.pathsep.join(listed))
    monkeypatch.setattr(search, "SYSTEM_DIR", folders["system"])
    return folders


def put(folder: Path, name: str, description: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\ndescription: {description}\n")
    return path


def test_the_search_path_is_cwd_then_the_variable_then_the_system_then_the_package(
    layout: dict[str, Path],
) -> None:
    assert [folder.path for folder in search_path()] == [
        Path.cwd() / "environments",
        layout["path1"],
        layout["path2"],
        layout["system"],
        PACKAGED_DIR,
    ]


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        (("cwd", "path1", "path2", "system"), "cwd"),
        (("path1", "path2", "system"), "path1"),
        (("path2", "system"), "path2"),
        (("system",), "system"),
    ],
)
def test_the_first_folder_that_has_the_name_wins(
    layout: dict[str, Path], present: tuple[str, ...], expected: str
) -> None:
    for where in present:
        put(layout[where], "prod", f"from {where}")
    assert load_environment("prod", environ={}).description == f"from {expected}"


def test_the_packaged_sandbox_is_found_last_and_can_be_shadowed(layout: dict[str, Path]) -> None:
    assert resolve("sandbox") == PACKAGED_DIR / "sandbox.yaml"
    put(layout["system"], "sandbox", "site copy")
    assert resolve("sandbox") == layout["system"] / "sandbox.yaml"


def test_available_environments_lists_each_name_once_with_its_origin(
    layout: dict[str, Path],
) -> None:
    put(layout["path2"], "prod", "shadowed")
    put(layout["path1"], "prod", "wins")
    put(layout["cwd"], "staging", "here")
    put(layout["system"], "dr", "system")
    (layout["cwd"] / "prod.example.yaml").write_text("name: x\n")  # a template: never by name
    (layout["cwd"] / "bad name.yaml").write_text("name: x\n")  # not an environment name
    found = {env.name: (env.path, env.origin) for env in available_environments()}
    assert found == {
        "dr": (layout["system"] / "dr.yaml", str(layout["system"])),
        "prod": (layout["path1"] / "prod.yaml", f"{layout['path1']} ($LMS_OPSCHECK_ENV_PATH)"),
        "sandbox": (PACKAGED_DIR / "sandbox.yaml", "package"),
        "staging": (Path.cwd() / "environments" / "staging.yaml", "./environments"),
    }


def test_a_folder_on_the_path_twice_is_searched_once(tmp_path: Path) -> None:
    environ = {search.ENV_PATH_VARIABLE: f"{tmp_path}{os.pathsep}{tmp_path}/."}
    folders = search_path(environ, cwd=tmp_path)
    assert [f.path for f in folders].count(tmp_path) == 1
    # In the checkout, ./environments is the package's own folder: listed once, as ./environments.
    in_checkout = search_path({}, cwd=PACKAGED_DIR.parent)
    assert [f.origin for f in in_checkout].count("./environments") == 1
    assert "package" not in [f.origin for f in in_checkout]


def test_a_missing_or_unreadable_folder_is_skipped(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    folders = [SearchDir(tmp_path / "missing", "m"), SearchDir(locked, "l")]
    with pytest.raises(ConfigError, match="unknown environment 'prod'"):
        resolve("prod", folders)
    assert available_environments(folders) == []


def test_an_unknown_name_suggests_close_names_and_how_to_create_it(
    layout: dict[str, Path],
) -> None:
    put(layout["path1"], "prod", "x")
    with pytest.raises(ConfigError) as raised:
        resolve("prdo")
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("unknown environment 'prdo' (did you mean 'prod'?); available: ")
    assert f"prod ({layout['path1']} ($LMS_OPSCHECK_ENV_PATH))" in message
    assert f"to create it: cp {EXAMPLE} environments/prdo.yaml" in message
    assert EXAMPLE.is_file()  # the real path of the packaged template
    assert f"searched: ./environments, {layout['path1']}" in message


def test_the_example_is_never_loaded_by_name(layout: dict[str, Path]) -> None:
    del layout
    with pytest.raises(ConfigError, match=r"unknown environment 'prod\.example'"):
        resolve("prod.example")


@pytest.mark.parametrize("value", ["x" * 300, "a\x1bb", "../../etc"])
def test_an_odd_name_is_an_unknown_environment_shown_bounded(
    layout: dict[str, Path], value: str
) -> None:
    del layout
    with pytest.raises(ConfigError) as raised:
        resolve(value)
    message = str(raised.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 1000


def test_a_nul_in_env_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^--env contains a NUL character$"):
        resolve("pr\x00od")


def test_a_path_is_read_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    put(tmp_path, "here", "relative")
    (tmp_path / "other.yml").write_text("name: other\n")
    assert load_environment("./here.yaml", environ={}).description == "relative"
    assert load_environment(str(tmp_path / "here.yaml"), environ={}).name == "here"
    assert load_environment("other.yml", environ={}).name == "other"


@pytest.mark.parametrize(
    ("given", "problem"),
    [("missing.yaml", "does not exist"), (".", "is not a regular file")],
)
def test_a_path_that_is_not_a_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    target = given if given.endswith(".yaml") else f"{given}/"
    with pytest.raises(ConfigError, match=f"^environment file '{target}' {problem}$"):
        resolve(target)


def test_peek_embedded_follows_the_search_path(layout: dict[str, Path]) -> None:
    (layout["path2"] / "local.yaml").write_text("name: local\nembedded: sandbox\n")
    assert peek_embedded("local") == "sandbox"
    assert peek_embedded("sandbox") == "sandbox"
    put(layout["cwd"], "plain", "x")
    assert peek_embedded("plain") is None


def test_a_path_too_long_for_the_system_is_one_line() -> None:
    with pytest.raises(ConfigError, match="cannot be read: File name too long"):
        resolve("/" + "x" * 5000 + ".yaml")
