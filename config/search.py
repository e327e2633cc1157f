"""Where ``--env NAME`` is found: a search path of folders, the first ``NAME.yaml`` wins.

1. ``./environments/`` in the working directory;
2. each folder of ``$LMS_OPSCHECK_ENV_PATH`` (separated by ``os.pathsep``, ``:`` on Linux);
3. ``/etc/lms-opscheck/environments/``;
4. the environments shipped in the package (``sandbox``; ``prod.example`` is never loaded by
   name: it is the template to copy).

``--env`` with a ``/`` or ending in ``.yaml``/``.yml`` is a path and is read as given.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lms_opscheck.config.errors import ConfigError

ENV_PATH_VARIABLE = "LMS_OPSCHECK_ENV_PATH"
SYSTEM_DIR = Path("/etc/lms-opscheck/environments")
PACKAGED_DIR = Path(__file__).resolve().parent.parent / "environments"
EXAMPLE = PACKAGED_DIR / "prod.example.yaml"
#: Also the rule for the ``name`` key: it becomes a folder under ``out/``.
ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class SearchDir:
    path: Path
    origin: str  # how the folder got on the path, as printed in listings


@dataclass(frozen=True)
class EnvironmentFile:
    name: str
    path: Path
    origin: str


def search_path(
    environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> list[SearchDir]:
    """The folders searched for ``NAME.yaml``, in order, each once."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    folders = [SearchDir(cwd / "environments", "./environments")]
    for entry in environ.get(ENV_PATH_VARIABLE, "").split(os.pathsep):
        if entry.strip():
            listed = cwd / Path(entry).expanduser()
            folders.append(SearchDir(listed, f"{listed} (${ENV_PATH_VARIABLE})"))
    folders += [SearchDir(SYSTEM_DIR, str(SYSTEM_DIR)), SearchDir(PACKAGED_DIR, "package")]
    unique: dict[Path, SearchDir] = {}
    for folder in folders:  # in a checkout, ./environments is the package's own folder
        unique.setdefault(_real(folder.path), folder)
    return list(unique.values())


def available_environments(folders: Sequence[SearchDir] | None = None) -> list[EnvironmentFile]:
    """Every environment loadable by name, with the folder it comes from (the first one wins)."""
    found: dict[str, EnvironmentFile] = {}
    for folder in search_path() if folders is None else folders:
        try:
            paths = sorted(folder.path.glob("*.yaml"))
        except OSError:
            continue
        for path in paths:
            if _loadable_name(path.stem) and _is_file(path):
                found.setdefault(path.stem, EnvironmentFile(path.stem, path, folder.origin))
    return sorted(found.values(), key=lambda env: env.name)


def resolve(name_or_path: str, folders: Sequence[SearchDir] | None = None) -> Path:
    """The file ``--env`` names, or a one-line :class:`ConfigError` that helps find it."""
    if "\x00" in name_or_path:
        raise ConfigError("--env contains a NUL character")
    if is_path(name_or_path):
        candidate = Path(name_or_path).expanduser()
        try:
            if candidate.is_file():
                return candidate
            problem = "is not a regular file" if candidate.exists() else "does not exist"
        except OSError as exc:
            problem = f"cannot be read: {exc.strerror}"
        raise ConfigError(f"environment file {_shown(name_or_path)} {problem}")
    folders = search_path() if folders is None else folders
    if _loadable_name(name_or_path):
        for folder in folders:
            path = folder.path / f"{name_or_path}.yaml"
            if _is_file(path):
                return path
    raise ConfigError(unknown_environment(name_or_path, folders))


def is_path(name_or_path: str) -> bool:
    separators = {"/", os.sep, os.altsep or "/"}
    return name_or_path.endswith((".yaml", ".yml")) or any(s in name_or_path for s in separators)


def unknown_environment(name: str, folders: Sequence[SearchDir]) -> str:
    known = available_environments(folders)
    close = difflib.get_close_matches(name, [env.name for env in known], n=3)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    listing = ", ".join(f"{env.name} ({env.origin})" for env in known) or "none"
    new = name if _loadable_name(name) else "NAME"
    searched = ", ".join(folder.origin for folder in folders)
    return (
        f"unknown environment {_shown(name)}{hint}; available: {listing}; "
        f"to create it: cp {EXAMPLE} environments/{new}.yaml (searched: {searched})"
    )


def _loadable_name(name: str) -> bool:
    return bool(ENV_NAME.fullmatch(name)) and not name.endswith(".example")


def _shown(text: str) -> str:
    """The user's own --env value, bounded and with control characters escaped."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # an unreadable folder on the path is skipped, as a missing one is
        return False


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path
