"""Bounded YAML for environment files: size, nesting, aliases and keys are limited and checked.

An environment file is a few KiB of plain mappings, lists and scalars. What PyYAML's SafeLoader
accepts beyond that costs memory or hides mistakes, so :func:`read_document` refuses:

- files over :data:`MAX_BYTES` (1 MiB), and text that is not UTF-8;
- nesting deeper than :data:`MAX_DEPTH` levels, counting what aliases bring in;
- more than :data:`MAX_ALIASES` aliases, or a document that would expand (every alias counted
  as a full copy of its anchor) beyond :data:`MAX_NODES` values, counted as it is composed: a
  few hundred bytes of nested aliases otherwise become gigabytes once the document is copied
  and validated (the largest real environment, 200 replicas, 50 hosts, 100 waivers and 100
  attestations, has 2,869 values);
- an alias inside its own anchor (a recursive structure);
- a key written twice in one mapping (YAML would silently keep the second);
- explicit tags other than the plain types (``!!binary``, ``!!set``, ``!custom``...).

Anchors, aliases and merge keys (``<<: *redis``) within those bounds are accepted: they let a
file say "the broker is the Redis above, database 1" once. Messages never quote the file's text
(see :mod:`lms_opscheck.config.errors`); they give the line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from lms_opscheck.config.errors import hide_quoted_text, shown_path

MAX_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_ALIASES = 1000
MAX_NODES = 50_000

#: What YAML 1.1 allows in a stream (PyYAML's Reader.NON_PRINTABLE, inverted).
_NOT_YAML_TEXT = re.compile(r"[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"
_PLAIN_TAGS = frozenset(
    _TAG + name for name in ("null", "bool", "int", "float", "str", "timestamp", "seq", "map")
)


class YamlProblem(Exception):
    """What is wrong with the file, and the line (1-based) when one can be named."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line


@dataclass(frozen=True)
class Document:
    data: Any
    #: The line of every key and list item, by key path (``("targets", "postgres", "port")``).
    lines: Mapping[tuple[str, ...], int]

    def line_of(self, path: tuple[object, ...]) -> int | None:
        """The line of ``path``, or of its nearest parent the file wrote (a missing key's)."""
        parts = tuple(str(part) for part in path)
        for end in range(len(parts), 0, -1):
            if (line := self.lines.get(parts[:end])) is not None:
                return line
        return None


def read_document(path: Path) -> Document:
    """The file's data and key lines, or :class:`YamlProblem`."""
    try:
        with path.open("rb") as stream:
            raw = _read_at_most(stream, MAX_BYTES + 1)
    except OSError as exc:
        raise YamlProblem(f"cannot read: {exc.strerror or type(exc).__name__}") from None
    if len(raw) > MAX_BYTES:
        raise YamlProblem(f"larger than {MAX_BYTES // 1024} KiB: not an environment file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlProblem("not UTF-8 text", line) from None
    return parse(text)


def _read_at_most(stream: BinaryIO, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit and (chunk := stream.read(min(1 << 16, limit - size))):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def parse(text: str, *, libyaml: bool = True) -> Document:
    if bad := _NOT_YAML_TEXT.search(text):  # both YAML readers refuse these; say where
        line = text.count("\n", 0, bad.start()) + 1
        raise YamlProblem(f"malformed YAML: control character #x{ord(bad[0]):04x}", line)
    loader = _Loader(text) if libyaml else _PureLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(None, {})
        lines = _index(loader, node)
        return Document(loader.construct_document(node), lines)
    except _Refused as exc:
        raise YamlProblem(str(exc.problem), exc.problem_mark.line + 1) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = mark.line + 1 if mark is not None else None
        raise YamlProblem(f"malformed YAML: {_problem(exc)}", at) from None
    except yaml.YAMLError:  # the reader's errors carry no mark; _NOT_YAML_TEXT prevents them
        raise YamlProblem("malformed YAML: a character YAML does not allow") from None
    except RecursionError:  # not expected within MAX_DEPTH; never a traceback if it happens
        raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def _problem(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or exc.context or "not YAML"
    if exc.context and problem.startswith("but found"):  # "expected a single document..."
        problem = f"{exc.context}, {problem}"
    if problem == "second occurrence":
        return "an anchor (&name) is defined twice"
    if problem.startswith("found undefined alias"):
        return "an alias (*name) whose anchor (&name) is not defined above it"
    return hide_quoted_text(problem)


class _Refused(yaml.MarkedYAMLError):
    """Well-formed YAML that an environment file must not contain (beyond a bound)."""

    problem_mark: yaml.Mark


class _Bounded(Composer, SafeConstructor):
    """Composes nodes measuring each one, and refuses what is unbounded (mixed into a loader)."""

    peek_event: Callable[[], Any]  # from the parser the loader combines this with

    def _start_counting(self) -> None:
        self._depth = 0
        self._aliases = 0
        self._values = 0  # the document's values so far, each alias counted as a full copy
        self._open: set[str] = set()  # anchors whose node is still being composed
        self._size: dict[int, int] = {}  # id(node) -> values below it, aliases expanded
        self._height: dict[int, int] = {}

    def compose_node(self, parent: Node | None, index: int) -> Node:
        event: Any = self.peek_event()
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _refused(f"nested deeper than {MAX_DEPTH} levels", event)
            if isinstance(event, AliasEvent):
                return self._alias(event, parent, index)
            self._count(1, event)
            opened = (
                event.anchor if isinstance(event, MappingStartEvent | SequenceStartEvent) else None
            )
            if opened is not None:
                self._open.add(opened)
            node = _composed(super().compose_node(parent, index), event)
            self._open.discard(opened or "")
            self._measure(node)
            return node
        finally:
            self._depth -= 1

    def _alias(self, event: AliasEvent, parent: Node | None, index: int) -> Node:
        if event.anchor in self._open:
            raise _refused("an alias inside its own anchor (a recursive structure)", event)
        self._aliases += 1
        if self._aliases > MAX_ALIASES:
            raise _refused(f"more than {MAX_ALIASES} aliases (*name)", event)
        # The anchored node, or PyYAML's "undefined alias" error.
        node = _composed(super().compose_node(parent, index), event)
        if self._depth - 1 + self._height[id(node)] > MAX_DEPTH:
            raise _refused(f"nested deeper than {MAX_DEPTH} levels (through an alias)", event)
        self._count(self._size[id(node)], event)
        return node

    def _count(self, values: int, event: Any) -> None:
        # Checked as the document grows, so a wide list or a bomb stops at the bound, not after.
        self._values += values
        if self._values > MAX_NODES:
            raise _refused(
                f"more than {MAX_NODES} values, each alias counted as a copy of its anchor "
                "(the largest real environment has about 3000)",
                event,
            )

    def _measure(self, node: Node) -> None:
        if node.tag == _TAG + "value":  # a bare "=" is text, not the YAML 1.1 value key
            node.tag = _TAG + "str"
        if node.tag not in _PLAIN_TAGS and node.tag != _MERGE:
            raise _Refused(
                None, None, "a YAML tag other than the plain types (tag not shown)", node.start_mark
            )
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [part for pair in node.value for part in pair]
        self._size[id(node)] = 1 + sum(self._size[id(child)] for child in children)
        self._height[id(node)] = 1 + max((self._height[id(c)] for c in children), default=0)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        # Impossible dates (2020-13-45) are a YAML error with a line, not a ValueError.
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid date {node.value!r} ({exc})", node.start_mark
            ) from None

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
            raise yaml.constructor.ConstructorError(
                None, None, "an integer with too many digits", node.start_mark
            ) from None


_Bounded.yaml_constructors = {
    **SafeConstructor.yaml_constructors,
    _TAG + "timestamp": _Bounded.construct_yaml_timestamp,
    _TAG + "int": _Bounded.construct_yaml_int,
}


class _PureLoader(_Bounded, yaml.SafeLoader):
    """PyYAML's own reader, scanner and parser: used where PyYAML was built without libyaml."""

    def __init__(self, stream: str) -> None:
        yaml.SafeLoader.__init__(self, stream)
        self._start_counting()


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _Loader(_Bounded, Composer, CParser, SafeConstructor, Resolver):
        """libyaml scans and parses (5x faster here); nodes are still composed by _Bounded."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._start_counting()

else:  # pragma: no cover - PyYAML built without libyaml
    _Loader = _PureLoader  # type: ignore[misc,assignment]


def _composed(node: Node | None, event: Any) -> Node:
    if node is None:  # PyYAML's composer always returns a node; its stubs allow None
        raise _refused("no value", event)
    return node


def _refused(problem: str, event: Any) -> _Refused:
    return _Refused(None, None, problem, event.start_mark)


def _index(loader: _Bounded, root: Node) -> dict[tuple[str, ...], int]:
    """Line of every key path; refuses duplicate and non-scalar keys. Walks aliases expanded,
    which composition bounded to MAX_NODES values. Keys brought in by merges are not indexed:
    their problems are reported at the line of the mapping that merges them."""
    lines: dict[tuple[str, ...], int] = {}
    pending: list[tuple[Node, tuple[str, ...]]] = [(root, ())]
    while pending:
        node, path = pending.pop()
        if isinstance(node, SequenceNode):
            for number, item in enumerate(node.value):
                lines[(*path, str(number))] = item.start_mark.line + 1
                pending.append((item, (*path, str(number))))
        elif isinstance(node, MappingNode):
            seen: dict[tuple[str, Any], int] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if key_node.tag == _MERGE:
                    continue
                if not isinstance(key_node, ScalarNode):
                    raise YamlProblem("a key that is a list or a mapping", line)
                key = loader.construct_object(key_node)
                child = (*path, str(key))
                identity = (type(key).__name__, key)  # true and 1 are different keys
                if identity in seen:
                    raise YamlProblem(
                        f"duplicate key {shown_path(child)} (first at line {seen[identity]})", line
                    )
                seen[identity] = line
                lines[child] = line
                pending.append((value_node, child))
    return lines
