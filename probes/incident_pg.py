"""PostgreSQL during an incident: queries waiting on locks, who blocks them and for how long.

One read-only session (probes/postgres.py: statement_timeout, lock_timeout); the blocked rows
come from pg_stat_activity and pg_blocking_pids(), and the wait from pg_locks.waitstart
(PostgreSQL 14+, the query's start before). Connections against max_connections, long-running
queries and idle transactions are CAP-04/05/06's, from probes/pg_capacity.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes.errors import MeasurementError, NoAnswer
from lms_opscheck.probes.postgres import connect

#: Every session waiting on another's lock; the oldest wait first. waitstart is NULL for a few
#: milliseconds after the wait begins: the query's start stands in (an upper bound).
_BLOCKED = """
SELECT a.pid, coalesce(a.usename, ''), coalesce(a.application_name, ''),
       coalesce(a.client_addr::text, 'local'), pg_blocking_pids(a.pid),
       extract(epoch FROM now() - coalesce(
           (SELECT min(l.waitstart) FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted),
           a.query_start)),
       coalesce(a.wait_event_type, ''), coalesce(a.wait_event, '')
FROM pg_stat_activity a
WHERE a.pid <> pg_backend_pid() AND cardinality(pg_blocking_pids(a.pid)) > 0
ORDER BY 6 DESC
"""


@dataclass(frozen=True)
class Blocked:
    """A session waiting on a lock another session holds."""

    pid: int
    user: str
    application: str
    client: str
    blockers: tuple[int, ...]
    waiting: timedelta
    wait_event: str

    def __str__(self) -> str:
        app = f" {self.application}" if self.application else ""
        by = ", ".join(str(p) for p in self.blockers)
        return (
            f"pid {self.pid} ({self.user}{app} from {self.client}) has waited "
            f"{format_duration(self.waiting)} on {self.wait_event or 'a lock'} held by pid {by}"
        )


@dataclass(frozen=True)
class LockWaits:
    target: str
    sessions: int  # other client sessions this role can see (what the answer rests on)
    blocked: tuple[Blocked, ...]  # oldest wait first


def lock_waits(target: PostgresTarget, timeouts: Timeouts) -> LockWaits:
    with connect(target, timeouts) as conn:
        try:
            rows = conn.execute(_BLOCKED).fetchall()
            seen = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
            ).fetchone()
        except psycopg.errors.QueryCanceled:
            raise NoAnswer(target.label, "the lock query exceeded the statement timeout") from None
        except psycopg.Error as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MeasurementError(target.label, f"lock query failed: {text}") from None
    blocked = tuple(
        Blocked(
            pid=int(str(pid)),
            user=str(user),
            application=str(app),
            client=str(client),
            blockers=tuple(int(p) for p in blockers or ()),  # type: ignore[attr-defined]
            waiting=timedelta(seconds=float(str(age))) if age is not None else timedelta(0),
            wait_event=f"{kind}:{event}" if kind else "",
        )
        for pid, user, app, client, blockers, age, kind, event in rows
    )
    return LockWaits(target.label, int(str(seen[0])) if seen else 0, blocked)
