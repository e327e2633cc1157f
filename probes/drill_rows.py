"""How the active drill judges a restored copy against the source database, as of the dump.

The dump is hours old and the live database keeps changing, so row counts are compared with
the source *as of the dump*:

- a key table with a timestamp column (``created_at``): rows created up to a cutoff (the
  newest row in the restored copy, no later than the archive's creation time, minus
  ``timestamp_margin`` for transactions still open when pg_dump took its snapshot) are
  counted in both databases. The restore must hold every such
  row the source still has (within ``row_count_tolerance``); rows the source gained later are
  growth, rows it lost are drift.
- a key table without one: the live count may only exceed the restored count by the
  ``growth_allowance``; beyond it the restore may be missing rows. A live count below the
  restored one is drift (rows deleted since the dump), not a restore problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lms_opscheck.probes.errors import MeasurementError


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
