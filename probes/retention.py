"""Data retention: rows of a table older than the rule's maximum age, read-only.

Identifiers come from configuration and are quoted with ``psycopg.sql`` (never pasted into SQL);
the age is a bound parameter. The table must have rows with the column set, or the rule examined
nothing (which is not compliance, and is said so).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg
from psycopg import sql

from lms_opscheck.config.compliance import RetentionRule
from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes.errors import MeasurementError, NoAnswer
from lms_opscheck.probes.postgres import connect


@dataclass(frozen=True)
class RetentionFinding:
    rule: RetentionRule
    where: str  # "<table>.<column> in postgresql://..."
    has_rows: bool  # any row with the column set: something was examined
    offending: int  # rows older than max_age
    oldest_age: timedelta | None  # age of the oldest row (offending or not)


def retention_finding(
    target: PostgresTarget, timeouts: Timeouts, rule: RetentionRule
) -> RetentionFinding:
    table = sql.Identifier(*rule.table.split("."))
    column = sql.Identifier(rule.column)
    offending = sql.SQL(
        "SELECT count(*) FROM {table} WHERE {column} < now() - make_interval(secs => %s)"
    ).format(table=table, column=column)
    oldest = sql.SQL(
        "SELECT extract(epoch FROM now() - min({column})::timestamptz) FROM {table}"
    ).format(table=table, column=column)
    where = f"{rule.id} in {target.label}"
    with connect(target, timeouts) as conn:
        try:
            row = conn.execute(offending, (rule.max_age.total_seconds(),)).fetchone()
            age_row = conn.execute(oldest).fetchone()
        except psycopg.errors.QueryCanceled:
            raise NoAnswer(where, "the retention query exceeded the statement timeout") from None
        except psycopg.Error as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MeasurementError(where, f"retention query failed: {text}") from None
    count = int(str(row[0])) if row is not None else 0
    seconds = age_row[0] if age_row is not None else None
    age = timedelta(seconds=float(str(seconds))) if seconds is not None else None
    return RetentionFinding(rule, where, age is not None, count, age)
