"""What the active drill measures in the restored copy, and how it judges it against the source.

The dump is hours old and the live database keeps changing, so row counts are compared with
the source *as of the dump*:

- a key table with a timestamp column (``created_at``): rows created up to a cutoff (the
  newest row in the restored copy, minus ``timestamp_margin`` for transactions still open when
  pg_dump took its snapshot) are counted in both databases. The restore must hold every such
  row the source still has (within ``row_count_tolerance``); rows the source gained later are
  growth, rows it lost are drift.
- a key table without one: the live count may only exceed the restored count by the
  ``growth_allowance``; beyond it the restore may be missing rows. A live count below the
  restored one is drift (rows deleted since the dump), not a restore problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Rejected
from lms_opscheck.probes.hosts import shorten
from lms_opscheck.probes.postgres import connect

Connection = psycopg.Connection[tuple[object, ...]]

PUBLIC_TABLES = (
    "SELECT count(*) FROM information_schema.tables "
    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
)
_TIMESTAMP_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")


@dataclass(frozen=True)
class RowRules:
    """The drill's settings for comparing row counts (restore_drill.* in the environment)."""

    tolerance: float = 0.05
    growth_allowance: float = 0.10
    #: The timestamp column tried in every key table (None: whole counts only) ...
    default_column: str | None = "created_at"
    #: ... unless the table is named here with its own.
    columns: Mapping[str, str] = field(default_factory=dict)
    margin: timedelta = timedelta(minutes=10)

    def column(self, table: str) -> str | None:
        return self.columns.get(table, self.default_column)


@dataclass(frozen=True)
class TableRows:
    """One key table: its rows in the restored copy and in the source, whole and as of the dump."""

    table: str
    restored: int | None  # None: the table is missing from the restore
    source: int | None = None  # None: not compared (no source, or not in the source)
    column: str | None = None  # the timestamp column compared on, if any
    cutoff: datetime | None = None
    restored_before: int | None = None  # rows with column <= cutoff
    source_before: int | None = None

    @property
    def dated(self) -> bool:
        return self.restored_before is not None and self.source_before is not None

    @property
    def lacking(self) -> int:
        """Rows the source had by the cutoff that the restore does not hold."""
        if self.dated:
            return max(0, (self.source_before or 0) - (self.restored_before or 0))
        return 0

    @property
    def added_since(self) -> int | None:
        """Rows the source gained after the dump (net), or None when not compared."""
        if self.source is None or self.restored is None:
            return None
        if self.dated:
            return (self.source - (self.source_before or 0)) - (
                self.restored - (self.restored_before or 0)
            )
        return self.source - self.restored

    @property
    def removed_since(self) -> int:
        """Rows the dump holds that the source no longer has."""
        if self.source is None or self.restored is None:
            return 0
        if self.dated:
            return max(0, (self.restored_before or 0) - (self.source_before or 0))
        return max(0, self.restored - self.source)

    def complete(self, rules: RowRules) -> bool:
        """Whether the restore holds what the source held at the dump (DRL-10)."""
        if self.source is None:
            return True  # not compared
        if self.restored is None:
            return False
        if self.dated:
            return self.lacking <= rules.tolerance * (self.source_before or 0)
        return self.source <= self.restored * (1 + rules.growth_allowance)

    def drift_within(self, rules: RowRules) -> bool:
        """Whether the source lost no more of the dump's rows than the tolerance (DRL-14)."""
        base = self.restored_before if self.dated else self.restored
        return self.removed_since <= rules.tolerance * (base or 0)

    def __str__(self) -> str:
        restored = "missing" if self.restored is None else str(self.restored)
        if self.source is None:
            return f"{self.table} {restored}"
        text = f"{self.table} {restored} restored, {self.source} in the source now"
        if self.dated and self.cutoff is not None:
            text += (
                f" ({self.restored_before} vs {self.source_before} created by "
                f"{self.cutoff.isoformat(sep=' ', timespec='seconds')} ({self.column}))"
            )
        return text


def scalar(conn: Connection, query: sql.Composable | str, params: Sequence[object] = ()) -> int:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row and row[0] is not None else 0  # type: ignore[call-overload]


def table_exists(conn: Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{table}",)).fetchone()
    return bool(row and row[0])


def revision(conn: Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version LIMIT 1").fetchone()
    except psycopg.Error:  # not Alembic's table shape: no revision to report
        return None
    return str(row[0]) if row else None


def timestamp_type(conn: Connection, table: str, column: str) -> str | None:
    row = conn.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = %s AND column_name = %s",
        (table, column),
    ).fetchone()
    kind = str(row[0]) if row else None
    return kind if kind in _TIMESTAMP_TYPES else None


def newest_value(conn: Connection, table: str, column: str) -> datetime | None:
    query = sql.SQL("SELECT max({}) FROM public.{}").format(
        sql.Identifier(column), sql.Identifier(table)
    )
    row = conn.execute(query).fetchone()
    value = row[0] if row else None
    if isinstance(value, datetime):
        return value
    return None


def counts(
    conn: Connection, table: str, column: str | None, cutoff: datetime | None
) -> tuple[int, int | None]:
    """(all rows, rows with ``column <= cutoff``) of a table; the second is None without one."""
    if column is None or cutoff is None:
        query = sql.SQL("SELECT count(*) FROM public.{}").format(sql.Identifier(table))
        return scalar(conn, query), None
    query = sql.SQL("SELECT count(*), count(*) FILTER (WHERE {} <= %s) FROM public.{}").format(
        sql.Identifier(column), sql.Identifier(table)
    )
    row = conn.execute(query, (cutoff,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])  # type: ignore[call-overload]


@dataclass(frozen=True)
class Basis:
    """How one key table is compared: on rows up to ``cutoff`` of ``column``, or whole."""

    column: str | None
    cutoff: datetime | None


def comparison_basis(
    conn: Connection, table: str, rules: RowRules, dumped_at: datetime | None
) -> Basis:
    """Read from the restored copy: the column to compare on and the cutoff, if any."""
    column = rules.column(table)
    if column is None:
        return Basis(None, None)
    kind = timestamp_type(conn, table, column)
    newest = newest_value(conn, table, column) if kind else None
    if newest is None:
        return Basis(None, None)
    cutoff = newest
    if dumped_at is not None and newest.tzinfo is not None:
        cutoff = min(newest, dumped_at)  # a row dated in the future does not move the cutoff
    return Basis(column, cutoff - rules.margin)


@dataclass(frozen=True)
class Examination:
    """The restored copy, measured, beside what it is judged against."""

    table_count: int
    dump_tables: int | None  # public tables the dump's TOC lists
    has_alembic: bool
    revision: str | None
    rows: tuple[TableRows, ...]
    min_tables: int
    expected_revision: str | None
    rules: RowRules
    source_note: str | None = None  # why rows were not compared: no source configured
    source_error: MeasurementError | None = None  # the configured source could not be measured

    @property
    def compared(self) -> bool:
        return self.source_note is None and self.source_error is None

    def tables_ok(self) -> bool:
        return self.table_count >= max(self.min_tables, self.dump_tables or 0)

    def revision_ok(self) -> bool:
        expected = self.expected_revision
        return self.revision is not None and (not expected or self.revision == expected)

    def empty_tables(self) -> list[str]:
        return [r.table for r in self.rows if not r.restored]

    def incomplete(self) -> list[TableRows]:
        return [r for r in self.rows if not r.complete(self.rules)]

    def drifted(self) -> list[TableRows]:
        return [r for r in self.rows if not r.drift_within(self.rules)]

    def validations(self) -> list[tuple[str, bool, str]]:
        """(name, passed, figures) of each validation, as the drill log states them."""
        dump = self.dump_tables if self.dump_tables is not None else "?"
        expected = f"; expected {self.expected_revision}" if self.expected_revision else ""
        held = ", ".join(
            f"{r.table} {'missing' if r.restored is None else r.restored}" for r in self.rows
        )
        found = [
            (
                "tables",
                self.tables_ok(),
                f"{self.table_count} public tables; the dump lists {dump}; "
                f"minimum {self.min_tables}",
            ),
            ("revision", self.revision_ok(), f"{self.revision}{expected}"),
            ("key_tables_hold_rows", not self.empty_tables(), held or "none configured"),
        ]
        if self.compared:
            growth = ", ".join(f"{r.table} {r.added_since:+d}" for r in self.rows if r.added_since)
            loss = ", ".join(f"{r.table} -{r.removed_since}" for r in self.rows if r.removed_since)
            found += [
                ("rows_as_of_the_dump", not self.incomplete(), "; ".join(map(str, self.rows))),
                (
                    "drift_since_the_dump",
                    not self.drifted(),
                    f"added {growth or 'none'}; removed {loss or 'none'}",
                ),
            ]
        return found


@dataclass(frozen=True)
class Subject:
    """What to examine: the restored copy, the source to compare it with, the thresholds."""

    server: PostgresTarget
    scratch: str
    timeouts: Timeouts
    key_tables: tuple[str, ...]
    rules: RowRules
    min_tables: int
    expected_revision: str | None
    source: PostgresTarget | None
    dumped_at: datetime | None
    dump_tables: int | None


_Restored = dict[str, tuple[int | None, Basis, int | None]]


def examine(subject: Subject) -> Examination:
    """Measure the restored copy and compare it with the source; MeasurementError when the
    copy cannot be examined (the source's own problems are kept in ``source_error``)."""
    where = f"{subject.scratch} on {subject.server.host}:{subject.server.port}"
    try:
        with connect(subject.server, subject.timeouts, dbname=subject.scratch) as conn:
            table_count = scalar(conn, PUBLIC_TABLES)
            has_alembic = table_exists(conn, "alembic_version")
            found_revision = revision(conn) if has_alembic else None
            restored = _restored_rows(conn, subject)
    except psycopg.Error as exc:
        raise MeasurementError(
            where, f"examining the restored copy failed: {type(exc).__name__}: {shorten(str(exc))}"
        ) from None
    rows, note, error = _compare_with_source(subject, restored)
    return Examination(
        table_count=table_count,
        dump_tables=subject.dump_tables,
        has_alembic=has_alembic,
        revision=found_revision,
        rows=rows,
        min_tables=subject.min_tables,
        expected_revision=subject.expected_revision,
        rules=subject.rules,
        source_note=note,
        source_error=error,
    )


def _restored_rows(conn: Connection, subject: Subject) -> _Restored:
    restored: _Restored = {}
    for table in subject.key_tables:
        if not table_exists(conn, table):
            restored[table] = (None, Basis(None, None), None)
            continue
        basis = comparison_basis(conn, table, subject.rules, subject.dumped_at)
        whole, before = counts(conn, table, basis.column, basis.cutoff)
        restored[table] = (whole, basis, before)
    return restored


def _compare_with_source(
    subject: Subject, restored: _Restored
) -> tuple[tuple[TableRows, ...], str | None, MeasurementError | None]:
    plain = tuple(TableRows(t, whole) for t, (whole, _, _) in restored.items())
    if subject.source is None:
        return plain, "no source database configured", None
    try:
        with connect(subject.source, subject.timeouts) as conn:
            rows = tuple(_source_rows(conn, t, *found) for t, found in restored.items())
    except MeasurementError as exc:
        return plain, None, exc
    except psycopg.Error as exc:
        return plain, None, _source_error(subject.source, exc)
    return rows, None, None


def _source_rows(
    conn: Connection, table: str, whole: int | None, basis: Basis, before: int | None
) -> TableRows:
    if whole is None or not table_exists(conn, table):
        return TableRows(table, whole)
    column = basis.column
    if column is not None and timestamp_type(conn, table, column) is None:
        column = None  # the source has no such column: compare whole counts
    source, source_before = counts(conn, table, column, basis.cutoff)
    if column is None or source_before is None:
        return TableRows(table, whole, source)
    return TableRows(table, whole, source, column, basis.cutoff, before, source_before)


def _source_error(source: PostgresTarget, exc: psycopg.Error) -> MeasurementError:
    """A query on the source that failed after connecting: refused, timed out, or otherwise."""
    what = f"counting key-table rows failed ({type(exc).__name__})"
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return Rejected(source.label, what)
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return NoAnswer(source.label, what)
    return MeasurementError(source.label, what)
