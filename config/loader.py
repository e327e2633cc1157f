"""Load ``environments/NAME.yaml`` (or a path): interpolate ``${VAR}``, validate, freeze."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from lms_opscheck.config.model import Environment

ENVIRONMENTS_DIR = Path(__file__).resolve().parent.parent / "environments"
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


class ConfigError(Exception):
    """A configuration problem, worded as one line that names the file, the key and the problem."""


class _Loader(yaml.SafeLoader):
    """SafeLoader whose impossible dates (``2020-13-45``) are YAML errors with a line number."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid date {node.value!r} ({exc})", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # a SafeLoader


def available_environments(directory: Path = ENVIRONMENTS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml") if not p.stem.endswith(".example"))


def resolve_path(name_or_path: str, directory: Path = ENVIRONMENTS_DIR) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or os.sep in name_or_path:
        if candidate.is_file():
            return candidate
        raise ConfigError(f"environment file {name_or_path} does not exist")
    path = directory / f"{name_or_path}.yaml"
    if path.is_file():
        return path
    known = ", ".join(available_environments(directory)) or "none"
    raise ConfigError(f"unknown environment {name_or_path!r}; available: {known}")


def load_environment(
    name_or_path: str,
    environ: Mapping[str, str] | None = None,
    directory: Path = ENVIRONMENTS_DIR,
) -> Environment:
    path = resolve_path(name_or_path, directory)
    where = _display(path)
    try:
        raw = _read_yaml(path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{where}:{line}: malformed YAML: {exc.problem}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where}: cannot read: {_one_line(exc)}") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # a constructor's own complaint
        raise ConfigError(f"{where}: malformed YAML: {_one_line(exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys at the top level")
    raw.setdefault("name", path.stem)
    data = _interpolate(raw, os.environ if environ is None else environ, where, ())
    try:
        return Environment.model_validate({**data, "source": path})
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_first_problem(exc)}") from None


def _interpolate(value: Any, environ: Mapping[str, str], where: str, key: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, environ, where, (*key, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, environ, where, (*key, str(i))) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if name in environ and environ[name] != "":
            return environ[name]
        if default is not None:
            return default
        raise ConfigError(f"{where}: {'.'.join(key)}: environment variable {name} is not set")

    return _REFERENCE.sub(substitute, value)


def _first_problem(exc: ValidationError) -> str:
    # Never echo the input: a mistyped field could be holding a secret.
    error = exc.errors(include_input=False, include_url=False)[0]
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        message = "unknown key"
    elif kind == "missing":
        message = "required key is missing"
    # Our validators word their own problem (and name the key when it is not the field's own).
    message = message.removeprefix("Value error, ")
    if not error["loc"]:
        key, message = message.split(": ", 1) if ": " in message else ("(top level)", message)
    more = exc.error_count() - 1
    return f"{key}: {message}" + (f" (and {more} more problem{'s' * (more > 1)})" if more else "")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def peek_embedded(name_or_path: str, directory: Path = ENVIRONMENTS_DIR) -> str | None:
    """The ``embedded`` key alone, read before interpolation: its stack supplies the variables."""
    path = resolve_path(name_or_path, directory)
    try:
        raw = _read_yaml(path)
    except (OSError, ValueError, OverflowError, RecursionError, yaml.YAMLError):
        return None  # load_environment reports the problem with its line
    value = raw.get("embedded") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None
