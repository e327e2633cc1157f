"""Validated settings of artifact locations: file-name patterns, time zones, tool paths."""

from __future__ import annotations

import importlib
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator

#: Characters an IANA zone name uses; anything else never reaches ZoneInfo or a TZ variable.
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*$")
#: Linux limits (NAME_MAX, PATH_MAX): longer paths fail when run, with an OSError.
NAME_MAX = 255
PATH_MAX = 4095


def check_zone(name: str) -> str:
    """An IANA time zone name the zone database knows (``Europe/Berlin``, ``UTC``)."""
    # The value is not echoed: messages never repeat configuration values.
    problem = "not an IANA time zone name known to the zone database (such as America/New_York)"
    if not _ZONE_NAME.match(name) or ".." in name:
        raise ValueError(problem)
    try:
        ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, IsADirectoryError, ValueError: all "not a zone"
        raise ValueError(problem) from None
    return name


def check_tool_path(path: str) -> str:
    """A command or path that the operating system can execute by name at all."""
    if not path or "\0" in path:
        raise ValueError("not a command or path")
    if len(path.encode()) > PATH_MAX:
        raise ValueError(f"path is longer than {PATH_MAX} bytes")
    if any(len(part.encode()) > NAME_MAX for part in path.split("/")):
        raise ValueError(f"a path component is longer than {NAME_MAX} bytes")
    return path


TimeZone = Annotated[str, AfterValidator(check_zone)]
ToolPath = Annotated[str, AfterValidator(check_tool_path)]


def check_stamp_pattern(pattern: str) -> str:
    """A regular expression with a ``stamp`` group that every match fills exactly once."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    index = compiled.groupindex.get("stamp")
    if index is None:
        raise ValueError("the pattern needs a (?P<stamp>YYYYMMDD_HHMMSS) group")
    parser = _sre_parser()
    if parser is not None and not _always_once(parser.parse(pattern), index):
        raise ValueError(
            "the stamp group must match exactly once in every name: it is optional, repeated "
            "or in only some alternatives"
        )
    return pattern


def _sre_parser() -> Any:
    # The stdlib's own parser is the only exact way to tell a group every match fills from an
    # optional or repeated one; it is private (re._parser), so its absence is tolerated.
    try:
        return importlib.import_module("re._parser")
    except ImportError:  # pragma: no cover - a future Python without it
        return None


def _always_once(parsed: Any, group: int) -> bool:
    """Whether ``group`` is filled exactly once by every match of the parsed pattern."""
    for op, value in parsed:
        kind = str(op)
        if kind == "SUBPATTERN":
            if value[0] == group or _always_once(value[3], group):
                return True
        elif kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, inner = value
            if low == high == 1 and _always_once(inner, group):
                return True
        elif kind == "BRANCH":
            if all(_always_once(alternative, group) for alternative in value[1]):
                return True
        elif kind == "ATOMIC_GROUP":
            if _always_once(value, group):
                return True
        elif kind == "ASSERT" and _always_once(value[1], group):
            return True
    return False
