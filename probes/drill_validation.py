"""What the active drill measures in the restored copy and in the source (probes.drill_rows
judges it): queries over bounded sessions, read only on the source."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes.drill_rows import Examination, RowRules, TableRows
from lms_opscheck.probes.errors import MeasurementError, NoAnswer, Rejected
from lms_opscheck.probes.hosts import shorten
from lms_opscheck.probes.postgres import connect

__all__ = ["Examination", "RowRules", "Subject", "TableRows", "examine"]

Connection = psycopg.Connection[tuple[object, ...]]

PUBLIC_TABLES = (
    "SELECT count(*) FROM information_schema.tables "
    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
)
_TIMESTAMP_TYPES = ("timestamp with time zone", "timestamp without time zone", "date")


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
