"""Alembic: the head of a migrations folder (read with ``ast``, never imported) and the revision
a database is at (``alembic_version``, read-only).

A revision file assigns ``revision = "..."`` and ``down_revision = "..." | None | ("a", "b")``
(a tuple for a merge). The heads are the revisions no other revision names as its down
revision; more than one head is a branch the release has not merged.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes import postgres
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Unreadable
from lms_opscheck.probes.nodata import NoData

#: A revision file larger than this is not a migration script.
MAX_FILE = 1024 * 1024


@dataclass(frozen=True)
class Revision:
    id: str
    down: tuple[str, ...]
    file: str


@dataclass(frozen=True)
class Graph:
    folder: str
    revisions: tuple[Revision, ...]
    heads: tuple[str, ...]
    #: Down revisions named by some file but defined by none (a missing or renamed file).
    missing: tuple[str, ...]

    @property
    def head(self) -> str | None:
        return self.heads[0] if len(self.heads) == 1 else None


def _literal(node: ast.expr) -> tuple[str, ...] | None:
    """``"x"`` → ("x",); ``None`` → (); a tuple or list of strings → them; else None."""
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def parse_revision(path: Path) -> Revision | None:
    """The revision a file defines; None for a file that assigns no ``revision`` (a helper)."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise Unreadable(str(path), f"larger than {MAX_FILE} bytes: not a revision file")
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        raise Unreadable(str(path), f"not valid Python (line {exc.lineno}): {exc.msg}") from None
    except OSError as exc:
        raise Unreadable(str(path), exc.strerror or type(exc).__name__) from None
    found: dict[str, tuple[str, ...] | None] = {}
    for node in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                assert value is not None
                found[target.id] = _literal(value)
    if "revision" not in found:
        return None
    revision, down = found["revision"], found.get("down_revision", ())
    if revision is None or len(revision) != 1:
        raise Unreadable(str(path), "revision is not a string literal")
    if down is None:
        raise Unreadable(str(path), "down_revision is not a string, None or a tuple of strings")
    return Revision(revision[0], down, path.name)


def migration_graph(folder: Path) -> Graph:
    """Every revision in ``folder`` (``*.py``, not recursive) and the graph's heads."""
    where = str(folder)
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix == ".py" and p.is_file())
    except OSError as exc:
        raise Unreadable(where, f"cannot list the folder: {exc.strerror or exc}") from None
    revisions = [r for r in map(parse_revision, files) if r is not None]
    if not revisions:
        raise NoData(where, f"no revision files ({len(files)} .py files, none assigns revision)")
    by_id: dict[str, Revision] = {}
    for revision in revisions:
        if revision.id in by_id:
            other = by_id[revision.id].file
            raise Unreadable(where, f"revision {revision.id} is defined twice ({other}, "
                                    f"{revision.file})")  # fmt: skip
        by_id[revision.id] = revision
    pointed = {down for r in revisions for down in r.down}
    heads = tuple(sorted(rid for rid in by_id if rid not in pointed))
    missing = tuple(sorted(pointed - by_id.keys()))
    if not heads:
        raise Unreadable(where, "the revisions form a cycle: no head")
    return Graph(where, tuple(revisions), heads, missing)


@dataclass(frozen=True)
class DatabaseRevision:
    target: str
    table: str
    #: Every row of the table (Alembic keeps one per head: more than one is a branched database).
    revisions: tuple[str, ...]


def database_revision(
    target: PostgresTarget, timeouts: Timeouts, table: str = "alembic_version"
) -> DatabaseRevision:
    """``SELECT version_num FROM <table>`` in a read-only session; no table is NoData."""
    name = sql.Identifier(*table.split("."))
    with postgres.connect(target, timeouts) as conn:
        try:
            rows = conn.execute(sql.SQL("SELECT version_num FROM {}").format(name)).fetchall()
        except psycopg.errors.UndefinedTable:
            problem = f"no table {table}: never migrated by Alembic (or search_path hides it)"
            raise NoData(target.label, problem) from None
        except psycopg.errors.QueryCanceled:
            raise NoAnswer(target.label, f"SELECT from {table} exceeded the timeout") from None
        except psycopg.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MeasurementError(target.label, f"SELECT from {table} failed: {first}") from None
    return DatabaseRevision(target.label, table, tuple(sorted(str(row[0]) for row in rows)))
