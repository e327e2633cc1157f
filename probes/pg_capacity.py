"""PostgreSQL capacity in one read-only session: size, connections, sessions, replicas, XID age.

A role without ``pg_read_all_stats`` (``pg_monitor``) sees other roles' sessions without their
state: those are counted as hidden, so "no long-running session" is never concluded from rows the
role could not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import psycopg

from lms_opscheck.config.durations import format_duration
from lms_opscheck.config.model import PostgresTarget, Timeouts
from lms_opscheck.probes.errors import MeasurementError, NoAnswer
from lms_opscheck.probes.postgres import connect

#: transaction ids before wraparound: PostgreSQL stops accepting writes well before 2^31.
XID_LIMIT = 2**31

_SETTINGS = """
SELECT name, setting::bigint FROM pg_settings
WHERE name IN ('max_connections', 'superuser_reserved_connections', 'reserved_connections')
"""
#: every backend but this one; a row whose backend_type the role cannot read is hidden from it
_SESSIONS = """
SELECT pid, coalesce(usename, ''), coalesce(application_name, ''),
       coalesce(client_addr::text, 'local'), state, backend_type,
       extract(epoch FROM now() - query_start), extract(epoch FROM now() - state_change)
FROM pg_stat_activity WHERE pid <> pg_backend_pid()
"""
_REPLICAS = """
SELECT coalesce(application_name, ''), coalesce(client_addr::text, 'local'), state,
       extract(epoch FROM replay_lag), pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint
FROM pg_stat_replication
"""


@dataclass(frozen=True)
class Session:
    pid: int
    user: str
    application: str
    client: str
    state: str
    age: timedelta  # of its query (active) or of its state (idle in transaction)

    def __str__(self) -> str:
        app = f" {self.application}" if self.application else ""
        who = f"{self.user}{app} from {self.client}"
        return f"pid {self.pid} ({who}) {self.state} for {_age(self.age)}"


@dataclass(frozen=True)
class Replica:
    name: str
    client: str
    state: str
    lag: timedelta | None  # replay_lag: NULL once an idle standby has caught up
    lag_bytes: int | None

    def __str__(self) -> str:
        lag = _age(self.lag) if self.lag is not None else "no replay lag reported"
        return f"{self.name or self.client} ({self.state}): {lag}, {self.lag_bytes} bytes behind"


@dataclass(frozen=True)
class PgCapacity:
    target: str
    database: str
    user: str
    size: int
    max_connections: int
    reserved: int  # superuser_reserved_connections (+ reserved_connections, PostgreSQL 16)
    connections: int  # backends connected to a database (pg_stat_database), this one included
    sessions: tuple[Session, ...]  # other client sessions whose state this role can read
    hidden: int  # other backends this role cannot read (without pg_read_all_stats)
    in_recovery: bool
    replicas: tuple[Replica, ...]
    hidden_replicas: int
    xid_ages: tuple[tuple[str, int], ...]  # (database, age(datfrozenxid)), oldest first

    @property
    def usable_connections(self) -> int:
        """Slots the application's roles can use: the reserved ones are superusers' only."""
        return max(1, self.max_connections - self.reserved)

    def active(self) -> list[Session]:
        return sorted((s for s in self.sessions if s.state == "active"), key=lambda s: -s.age)

    def idle_in_transaction(self) -> list[Session]:
        idle = [s for s in self.sessions if s.state.startswith("idle in transaction")]
        return sorted(idle, key=lambda s: -s.age)


def measure(target: PostgresTarget, timeouts: Timeouts) -> PgCapacity:
    with connect(target, timeouts) as conn:
        try:
            return _measure(conn, target)
        except psycopg.errors.QueryCanceled:
            raise NoAnswer(
                target.label, "a capacity query exceeded the statement timeout"
            ) from None
        except psycopg.Error as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MeasurementError(target.label, f"capacity query failed: {text}") from None


def _measure(conn: psycopg.Connection[tuple[object, ...]], target: PostgresTarget) -> PgCapacity:
    row = conn.execute(
        "SELECT current_database(), pg_database_size(current_database()), current_user,"
        " pg_is_in_recovery()"
    ).fetchone()
    assert row is not None
    database, size, user, in_recovery = str(row[0]), int(str(row[1])), str(row[2]), bool(row[3])
    settings = {str(n): int(str(v)) for n, v in conn.execute(_SETTINGS).fetchall()}
    numbackends = conn.execute("SELECT sum(numbackends)::bigint FROM pg_stat_database").fetchone()
    connections = int(str(numbackends[0])) if numbackends and numbackends[0] is not None else 0
    sessions, hidden = [], 0
    for pid, usename, app, client, state, kind, query_age, state_age in conn.execute(_SESSIONS):
        if kind is None:
            hidden += 1
            continue
        if kind != "client backend" or state is None:
            continue
        seconds = query_age if state == "active" else state_age
        age = timedelta(seconds=float(str(seconds))) if seconds is not None else timedelta(0)
        sessions.append(
            Session(int(str(pid)), str(usename), str(app), str(client), str(state), age)
        )
    replicas, hidden_replicas = [], 0
    if not in_recovery:
        for name, client, state, lag, lag_bytes in conn.execute(_REPLICAS):
            if state is None:
                hidden_replicas += 1
                continue
            replicas.append(
                Replica(
                    str(name),
                    str(client),
                    str(state),
                    timedelta(seconds=float(str(lag))) if lag is not None else None,
                    int(str(lag_bytes)) if lag_bytes is not None else None,
                )
            )
    ages = conn.execute("SELECT datname, age(datfrozenxid) FROM pg_database ORDER BY 2 DESC")
    return PgCapacity(
        target=target.label,
        database=database,
        user=user,
        size=size,
        max_connections=settings["max_connections"],
        reserved=settings.get("superuser_reserved_connections", 0)
        + settings.get("reserved_connections", 0),
        connections=connections,
        sessions=tuple(sessions),
        hidden=hidden,
        in_recovery=in_recovery,
        replicas=tuple(replicas),
        hidden_replicas=hidden_replicas,
        xid_ages=tuple((str(n), int(str(a))) for n, a in ages.fetchall()),
    )


def _age(age: timedelta) -> str:
    return format_duration(age)
