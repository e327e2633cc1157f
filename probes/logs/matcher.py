"""The prefilter: where in a chunk of log bytes a line may be worth parsing.

One pass over the chunk finds every needle at once with Hyperscan (a multi-pattern regex engine,
PyPI ``hyperscan``) when it is installed; otherwise each needle is searched with ``bytes.find`` /
``re`` (same answers, one pass per needle: several times slower on big logs). A hit only says
"parse this line": the line parser decides what the line is (``ERROR`` in an INFO message is no
error). Needles are built from the location's formats and the policy (see :func:`needles`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from lms_opscheck.probes.logs.counting import Scanned

try:  # optional accelerator; the pure-Python engine gives the same answers
    import hyperscan
except ImportError:  # pragma: no cover - depends on the platform's wheels
    hyperscan = None  # type: ignore[assignment]

Engine = Literal["auto", "hyperscan", "python"]


@dataclass(frozen=True)
class Needle:
    """A byte pattern; ``literal`` ones are plain strings (searched with ``bytes.find``)."""

    pattern: bytes
    literal: bool = True
    caseless: bool = False

    @property
    def regex(self) -> bytes:
        return re.escape(self.pattern) if self.literal else self.pattern


class Matcher(Protocol):
    engine: str
    #: The needles, when every one is a case-sensitive literal: what the native reader can find
    #: while it reads (sources.LocalReader.into); None for the pure-Python engine.
    literals: tuple[bytes, ...] | None

    def ends(self, chunk: Scanned) -> list[int]:
        """End offsets of every needle match in ``chunk``, ascending."""
        ...


def status_alternation(statuses: Sequence[str]) -> bytes:
    """``401|403|5xx`` as a regex alternation: ``x`` stands for any digit."""
    return b"|".join(sorted({s.replace("x", r"\d").encode() for s in statuses}))


def needles(
    formats: Sequence[str],
    *,
    error_levels: Sequence[str] = (),
    statuses: Sequence[str] = (),
    status_keys: Sequence[str] = (),
    paths: Sequence[str] = (),
) -> tuple[Needle, ...]:
    """The needles that find error lines, answers with ``statuses`` and requests for ``paths``."""
    found = [Needle(level.encode()) for level in error_levels]
    if statuses:
        # Anchored on what follows the status: "-> " and "HTTP/1.1" precede it on every request
        # line, which makes a prefilter visit every line (2x slower in bench/bench_logs.py).
        codes = b"(?:" + status_alternation(statuses) + b")"
        if "uvicorn" in formats:
            found.append(Needle(rb'" ' + codes + rb" [A-Z]", literal=False))
        if "lms" in formats:
            found.append(Needle(codes + rb" \([\d.]+ ?ms\)", literal=False))
        if "json" in formats and status_keys:
            keys = b"|".join(re.escape(k.encode()) for k in status_keys)
            found.append(Needle(rb'"(?:' + keys + rb')": ?"?' + codes + rb"\b", literal=False))
    found.extend(Needle(path.encode(), caseless=True) for path in paths)
    return tuple(dict.fromkeys(found))


def matcher(found: Sequence[Needle], engine: Engine = "auto") -> Matcher:
    if engine == "hyperscan" or (engine == "auto" and hyperscan is not None):
        if hyperscan is None:
            raise RuntimeError("the hyperscan engine was asked for but is not installed")
        return HyperscanMatcher(found)
    return PythonMatcher(found)


class HyperscanMatcher:
    engine = "hyperscan"

    def __init__(self, found: Sequence[Needle]) -> None:
        assert hyperscan is not None
        plain = found and all(
            n.literal and not n.caseless and b"\n" not in n.pattern for n in found
        )
        self.literals = tuple(n.pattern for n in found) if plain else None
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._scratch = threading.local()  # a scan needs scratch space no other thread is using
        self._empty = not found
        if found:
            self._db.compile(
                expressions=[n.regex for n in found],
                ids=list(range(len(found))),
                elements=len(found),
                flags=[hyperscan.HS_FLAG_CASELESS if n.caseless else 0 for n in found],
            )

    def ends(self, chunk: Scanned) -> list[int]:
        if self._empty or not len(chunk):
            return []
        hits: list[int] = []

        def on_match(_id: int, _start: int, end: int, _flags: int, _context: object) -> None:
            hits.append(end)

        scratch = getattr(self._scratch, "space", None)
        if scratch is None:
            scratch = self._scratch.space = hyperscan.Scratch(self._db)
        # The stubs say bytes; Hyperscan reads any buffer without a copy.
        self._db.scan(cast(bytes, chunk), match_event_handler=on_match, scratch=scratch)
        hits.sort()
        return hits


class PythonMatcher:
    engine = "python"
    literals: tuple[bytes, ...] | None = None  # stays pure Python: the others' reference

    def __init__(self, found: Sequence[Needle]) -> None:
        self._literals = [n.pattern for n in found if n.literal and not n.caseless]
        # Caseless literals are found in a lowered copy: re.IGNORECASE loses re's literal-prefix
        # search and is three times slower than one bytes.lower() plus plain finds.
        self._caseless = [n.pattern.lower() for n in found if n.literal and n.caseless]
        self._regexes = [
            re.compile(n.regex, re.IGNORECASE if n.caseless else 0) for n in found if not n.literal
        ]

    def ends(self, chunk: Scanned) -> list[int]:
        if not isinstance(chunk, bytes):
            chunk = bytes(chunk)  # the slow engine anyway: a copy buys bytes' find and lower
        hits: list[int] = []
        find_all(chunk, self._literals, hits)
        if self._caseless:
            find_all(chunk.lower(), self._caseless, hits)  # ASCII lowering keeps every offset
        for regex in self._regexes:
            hits.extend(match.end() for match in regex.finditer(chunk))
        hits.sort()
        return hits


def find_all(chunk: bytes, literals: Sequence[bytes], hits: list[int]) -> None:
    """Append the end offset of every occurrence of each literal in ``chunk`` (overlaps too)."""
    for literal in literals:
        at = chunk.find(literal)
        while at >= 0:
            hits.append(at + len(literal))
            at = chunk.find(literal, at + 1)
