"""Load an environment by name or path: bounded YAML, ``${VAR}`` interpolation, validation, frozen.

Every problem is one :class:`ConfigError` line naming the file, the line, the key path and the
problem. It never quotes a value of the file (a mistyped field could hold a secret, and
``--env=/etc/shadow`` must not print a line of it): keys are printed only when they look like
key names (``errors.SHOWABLE_KEY``), anything else is a ``?`` with its line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lms_opscheck.config.errors import ConfigError, hide_quoted_text, shown_key, shown_path
from lms_opscheck.config.model import Environment
from lms_opscheck.config.search import (
    ENV_NAME,
    EXAMPLE,
    PACKAGED_DIR,
    SearchDir,
    available_environments,
    resolve,
    search_path,
)
from lms_opscheck.config.yamlsafe import Document, YamlProblem, read_document

__all__ = [
    "ENVIRONMENTS_DIR",
    "ConfigError",
    "available_environments",
    "load_environment",
    "peek_embedded",
    "search_path",
]

#: The environments shipped in the package (the last folder of the search path).
ENVIRONMENTS_DIR = PACKAGED_DIR
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
#: Text no environment value needs, which breaks paths, terminals and XML when it gets through.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_KEYS = frozenset(Environment.model_fields) - {"source"}


def load_environment(
    name_or_path: str,
    environ: Mapping[str, str] | None = None,
    folders: Sequence[SearchDir] | None = None,
) -> Environment:
    """The validated, frozen environment ``--env`` names (see :mod:`.search` for the path)."""
    path = resolve(name_or_path, folders)
    where = _display(path)
    document = _read(path, where)
    raw = _environment_mapping(document, where)
    if "name" not in raw:
        if not ENV_NAME.fullmatch(path.stem):
            raise ConfigError(
                f"{where}: name: the file name does not make an environment name "
                "(1-64 letters, digits, '.', '_' or '-'); write name: in the file"
            )
        raw = {**raw, "name": path.stem}
    data = _interpolate(raw, os.environ if environ is None else environ, where, document, ())
    try:
        return Environment.model_validate({**data, "source": path})
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_first_problem(exc, document)}") from None
    except Exception as exc:  # a validator that let a library error through (re: OverflowError)
        raise ConfigError(
            f"{where}: a value could not be validated ({type(exc).__name__}; the message is "
            "not shown because it may quote the value)"
        ) from None


def peek_embedded(name_or_path: str, folders: Sequence[SearchDir] | None = None) -> str | None:
    """The ``embedded`` key alone, read before interpolation: its stack supplies the variables.

    A file that is not well-formed, bounded YAML is refused here already, so that a broken
    file never boots the sandbox."""
    path = resolve(name_or_path, folders)
    raw = _read(path, _display(path)).data
    value = raw.get("embedded") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None


def _read(path: Path, where: str) -> Document:
    try:
        return read_document(path)
    except YamlProblem as problem:
        raise ConfigError(_at(where, problem.line, problem.message)) from None


def _environment_mapping(document: Document, where: str) -> dict[Any, Any]:
    """The top-level mapping, if the file is shaped like an environment at all."""
    raw = document.data
    if raw is None:
        raise ConfigError(f"{where}: the file is empty; start from {EXAMPLE}")
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping of keys at the top level")
    if raw and not _KEYS & set(raw):
        raise ConfigError(
            f"{where}: not an environment file: none of its top-level keys is an environment "
            "key (name, targets, artifacts, policy, ...)"
        )
    if "source" in raw:  # set by the loader, never by the file
        raise ConfigError(_at(where, document.line_of(("source",)), "source: unknown key"))
    return raw


def _interpolate(
    value: Any, environ: Mapping[str, str], where: str, document: Document, key: tuple[str, ...]
) -> Any:
    if isinstance(value, dict):
        return {
            k: _interpolate(v, environ, where, document, (*key, str(k))) for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _interpolate(v, environ, where, document, (*key, str(i))) for i, v in enumerate(value)
        ]
    if not isinstance(value, str):
        return value

    def problem(text: str) -> ConfigError:
        return ConfigError(_at(where, document.line_of(key), f"{shown_path(key)}: {text}"))

    def substitute(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        if name in environ and environ[name] != "":
            return environ[name]
        if default is not None:
            return default
        shown = name if len(name) <= 64 else "(a variable with a very long name)"
        raise problem(f"environment variable {shown} is not set")

    text = _REFERENCE.sub(substitute, value)
    if _CONTROL.search(text):
        raise problem("contains a control character (NUL, escape...), which no value needs")
    if _SURROGATE.search(text):
        raise problem("is not valid Unicode text (a lone surrogate escape)")
    return text


def _first_problem(exc: ValidationError, document: Document) -> str:
    error = exc.errors(include_input=False, include_url=False, include_context=False)[0]
    loc, kind = error["loc"], error["type"]
    # Our validators word their own problem; a library's (re.error, say) may quote the value.
    message = error["msg"].removeprefix("Value error, ")
    if kind == "value_error":
        message = hide_quoted_text(message)
    if kind == "extra_forbidden":
        message = "unknown key" if shown_key(loc[-1]) is not None else "an unknown key (not shown)"
    elif kind == "missing":
        message = "required key is missing"
    if not loc:  # a model validator: "dotted.key: problem"
        key, message = message.split(": ", 1) if ": " in message else ("(top level)", message)
        line = document.line_of(tuple(key.split(".")))
    else:
        key, line = shown_path(loc), document.line_of(loc)
    more = exc.error_count() - 1
    suffix = f" (and {more} more problem{'s' * (more > 1)})" if more else ""
    return _at_line(line, f"{key}: {message}{suffix}")


def _at(where: str, line: int | None, message: str) -> str:
    return f"{where}: {_at_line(line, message)}"


def _at_line(line: int | None, message: str) -> str:
    return f"line {line}: {message}" if line is not None else message


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)
