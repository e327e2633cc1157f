"""What each host must show (processes, ports, mounts, uploads) and how a fleet is visited."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, field_validator, model_validator

from lms_opscheck.config.levels import Frozen, parse_bytes, parse_ratio, percent, size

_ACCOUNT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$|^[0-9]{1,10}$")
_PROCESS = re.compile(r"^[A-Za-z0-9_.:+@/-]{1,100}$")


class FreeSpace(Frozen):
    """A free-space floor: ``20%`` of the filesystem's usable size, or a size (``10GiB``)."""

    ratio: float | None = None
    bytes: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().endswith("%"):
            return {"ratio": parse_ratio(value)}
        if isinstance(value, str | int) and not isinstance(value, bool):
            return {"bytes": parse_bytes(value)}
        if isinstance(value, dict):
            return value
        raise ValueError("expected a percentage such as 20% or a size such as 10GiB")

    @model_validator(mode="after")
    def _one(self) -> FreeSpace:
        if (self.ratio is None) == (self.bytes is None):
            raise ValueError("expected a percentage such as 20% or a size such as 10GiB")
        if self.ratio is not None and self.ratio > 1:
            raise ValueError("a free-space percentage is at most 100%")
        return self

    def floor(self, usable: int) -> int:
        """The least free bytes allowed on a filesystem of ``usable`` bytes."""
        return int(usable * self.ratio) if self.ratio is not None else int(self.bytes or 0)

    def __str__(self) -> str:
        return percent(self.ratio) if self.ratio is not None else size(self.bytes or 0)


def _absolute(path: str) -> str:
    if not path.startswith("/") or "\n" in path or "\0" in path or len(path) > 1000:
        raise ValueError("expected an absolute path (it is printed in test ids)")
    return path.rstrip("/") or "/"


AbsolutePath = Annotated[str, BeforeValidator(lambda v: _absolute(v) if isinstance(v, str) else v)]


class MountExpectation(Frozen):
    """``path`` is a mount point of its own (not a folder on the root filesystem) with room."""

    path: AbsolutePath
    min_free: FreeSpace | None = None


class UploadsExpectation(Frozen):
    """The uploads folder: present, owned and moded as the app needs, with room to write."""

    path: AbsolutePath
    owner: str | None = None
    group: str | None = None
    #: Exact permission bits, octal (``"0750"``); quote it in YAML (0750 unquoted is 750 decimal).
    mode: str | None = None
    min_free: FreeSpace | None = None
    #: Opt-in: create, read back and remove one uniquely named file (see README "Hosts").
    write_probe: bool = False

    @field_validator("owner", "group")
    @classmethod
    def _account(cls, name: str | None) -> str | None:
        if name is not None and not _ACCOUNT.match(name):
            raise ValueError("expected a user or group name (or a numeric id)")
        return name

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, mode: object) -> object:
        if mode is None:
            return None
        if not isinstance(mode, str) or not re.fullmatch(r"0?[0-7]{3,4}", mode):
            raise ValueError('expected octal permission bits as a quoted string, e.g. "0750"')
        return f"{int(mode, 8):04o}"


def _process_name(name: str) -> str:
    if not _PROCESS.match(name):
        raise ValueError("expected a program name such as uvicorn or celery")
    return name


class HostExpectations(Frozen):
    """What must be true on one host; an empty list is "not configured", never a pass."""

    #: Matched against each process's command line: a word whose last path part is the name
    #: (``uvicorn`` matches ``/srv/venv/bin/uvicorn app.main:app`` and ``python -m uvicorn``).
    processes: list[Annotated[str, BeforeValidator(_process_name)]] = Field(default_factory=list)
    ports: list[Annotated[int, Field(ge=1, le=65535, strict=True)]] = Field(default_factory=list)
    mounts: list[MountExpectation] = Field(default_factory=list)
    uploads: UploadsExpectation | None = None

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, ports: object) -> object:
        # ${VAR} references arrive as digit strings; ``true`` is not port 1.
        if isinstance(ports, list):
            return [
                int(p) if isinstance(p, str) and re.fullmatch(r"\s*\d{1,5}\s*", p) else p
                for p in ports
            ]
        return ports


class Fleet(Frozen):
    """How the hosts of an environment are visited: ``max_parallel`` at once, each with one
    batched shell (one ssh command per host per run)."""

    max_parallel: Annotated[int, Field(ge=1, le=64)] = 8
    #: Keep one ssh master connection per host (ControlMaster/ControlPersist) for its commands.
    #: Off by default: a host's checks are one command, so it measured no gain (bench_hosts 4).
    multiplex: bool = False
