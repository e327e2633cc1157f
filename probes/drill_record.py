"""The suite's own restore-drill log (docs/drill-log.md): what the drill did, line by line.

The first line is ``lms-opscheck restore drill log v1``; every other line is ``key: value``.
The drill appends each line when the thing it states has happened, so a drill that is killed
leaves a log that stops there (no ``ended_at``) instead of no log at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from lms_opscheck.probes.redaction import redact

HEADER = "lms-opscheck restore drill log v1"
#: Keys that may appear more than once, in order.
REPEATED = frozenset({"step", "validation"})
#: ``restore:`` values: the restore's own result (validations are separate lines). ``error``:
#: the drill could not tell (the restored copy could not be examined).
SUCCEEDED, FAILED, INTERRUPTED, ERROR = "succeeded", "failed", "interrupted", "error"


def _one_line(value: object) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return " ".join(text.split())


class DrillRecorder:
    """Appends the drill log as the drill proceeds; every line is redacted and flushed.

    A log that cannot be written never stops the drill (its cleanup above all): the first
    OSError is kept in ``error`` and later lines are dropped.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self._file: IO[str] | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # "x": a drill never overwrites another drill's log.
            self._file = path.open("x", encoding="utf-8")
        except OSError as exc:
            self.error = f"cannot write {path}: {exc.strerror or exc}"
        self._write(HEADER)

    def _write(self, line: str) -> None:
        if self._file is None:
            return
        try:
            self._file.write(redact(line) + "\n")
            self._file.flush()
        except OSError as exc:
            self.error = f"cannot write {self.path}: {exc.strerror or exc}"
            self.close()

    def field(self, key: str, value: object) -> None:
        self._write(f"{key}: {_one_line(value)}")

    def step(self, text: str) -> None:
        self.field("step", text)

    def validation(self, name: str, passed: bool, figures: str) -> None:
        self.field("validation", f"{name}: {'passed' if passed else 'failed'}: {figures}")

    def close(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            try:
                handle.close()
            except OSError as exc:
                self.error = self.error or f"cannot write {self.path}: {exc.strerror or exc}"


@dataclass(frozen=True)
class Record:
    """A v1 drill log, read back: single keys and the repeated ones in order."""

    fields: dict[str, str]
    steps: tuple[str, ...] = ()
    validations: tuple[str, ...] = ()
    unknown: tuple[str, ...] = field(default=())

    def time(self, key: str) -> datetime | None:
        value = self.fields.get(key)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else None  # v1 times always carry an offset


def is_record(lines: list[str]) -> bool:
    return bool(lines) and lines[0].strip() == HEADER


def read_record(lines: list[str]) -> Record:
    """Parse the lines of a v1 log (header first). Unknown keys are kept aside, never fatal."""
    fields: dict[str, str] = {}
    steps: list[str] = []
    validations: list[str] = []
    unknown: list[str] = []
    for line in _content(lines[1:]):
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or not key or " " in key:
            unknown.append(line)
        elif key == "step":
            steps.append(value)
        elif key == "validation":
            validations.append(value)
        else:
            fields.setdefault(key, value)
    return Record(fields, tuple(steps), tuple(validations), tuple(unknown))


def _content(lines: list[str]) -> Iterator[str]:
    for line in lines:
        if line.strip():
            yield line.strip()
