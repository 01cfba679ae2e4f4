"""Limits kept in the database, so every worker and every instance counts into one place without Redis.

One ``limit_counters`` row per key, changed by compare-and-set: read the row, decide, write it back only if its
``version`` is still the one read (or insert it if still absent). A writer that lost the race reads again, so two
workers can never both take the last attempt. Plain SQL that works the same on SQLite and PostgreSQL.

Failed password checks commit on a connection of their own (the attempt counts even though the request fails);
a request budget may instead count in the caller's transaction (token generation: the count and the token commit
or roll back together, and SQLite never waits on its own write lock). Rows past their window are deleted at most
once a minute per process, so the table holds only live keys.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ..extensions import db
from ..hotpath.fair_gate import NOT_GATED, WaitHook
from ..models import LimitCounter
from .rates import Rate
from .signin import Limit, wait_for

_TABLE = cast(Table, LimitCounter.__table__)  # declared a FromClause on the declarative base
MAX_TRIES = 50  # a key this contended is under attack: past this many lost races the attempt is refused
PRUNE_EVERY = 60.0

# decide(state) -> (new state or None to write nothing, new expiry in epoch ms or None to keep it, answer)
Decision = tuple[str | None, int | None, float]


@contextmanager
def own_transaction() -> Iterator[Connection]:
    """A connection and transaction of its own, committed at once whatever the request does next."""
    with db.engine.begin() as connection:
        yield connection


@contextmanager
def callers_transaction() -> Iterator[Connection]:
    """The request's (or command's) own transaction: what is counted commits or rolls back with its work."""
    yield db.session.connection()


def compare_and_set(connection: Connection, key: str, decide: Callable[[str], Decision]) -> float | None:
    """Apply ``decide`` to the key's state atomically; its answer, or None when the races were all lost."""
    for _ in range(MAX_TRIES):
        row = connection.execute(select(_TABLE.c.state, _TABLE.c.version).where(_TABLE.c.key == key)).first()
        state, expires_at, answer = decide(row.state if row is not None else "")
        if state is None:
            return answer
        if row is None:
            written = _insert_if_absent(connection, key, state, expires_at or 0)
        else:
            values = {"state": state, "version": row.version + 1}
            if expires_at is not None:
                values["expires_at"] = expires_at
            written = connection.execute(
                update(_TABLE).where(_TABLE.c.key == key, _TABLE.c.version == row.version).values(**values)
            ).rowcount
        if written == 1:
            return answer
    return None


def _insert_if_absent(connection: Connection, key: str, state: str, expires_at: int) -> int:
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(_TABLE).values(key=key, state=state, version=0, expires_at=expires_at)
    # RETURNING, not rowcount: psycopg's rowcount for INSERT ... ON CONFLICT DO NOTHING is -1 through SQLAlchemy.
    inserted = connection.execute(statement.on_conflict_do_nothing(index_elements=["key"]).returning(_TABLE.c.key))
    return 1 if inserted.first() is not None else 0


class _Pruner:
    """Deletes rows whose window has passed, at most once per ``every`` seconds in this process."""

    def __init__(self, every: float = PRUNE_EVERY) -> None:
        self.every, self._last = every, 0.0
        self._lock = threading.Lock()

    def maybe_prune(self, now: float) -> None:
        with self._lock:
            if time.monotonic() - self._last < self.every:
                return
            self._last = time.monotonic()
        with own_transaction() as connection:
            connection.execute(delete(_TABLE).where(_TABLE.c.expires_at < _ms(now)))


class DatabaseAttemptStore:
    """``signin.AttemptStore`` in the database: a row holds the key's recent attempt times (epoch ms, at most the
    limit's count of them), so a check is one small read and a counted attempt one small write."""

    def __init__(self) -> None:
        self._pruner = _Pruner()

    def take(self, key: str, at: float, limit: Limit) -> float:
        at = _ms(at) / 1000

        def decide(state: str) -> Decision:
            recent = [t for t in _times(state) if t > at - limit.window]
            wait = wait_for(recent, at, limit)
            if wait > 0:
                return None, None, wait
            recent = sorted([*recent, at])[-limit.failures :]
            return _encode(recent), _ms(recent[-1] + limit.window), 0.0

        with own_transaction() as connection:
            wait = compare_and_set(connection, key, decide)
        self._pruner.maybe_prune(at)
        return 1.0 if wait is None else wait

    def wait(self, key: str, at: float, limit: Limit) -> float:
        with own_transaction() as connection:
            state = connection.execute(select(_TABLE.c.state).where(_TABLE.c.key == key)).scalar()
        return max(wait_for(_times(state or ""), at, limit), 0.0)

    def give_back(self, key: str, at: float) -> None:
        at = _ms(at) / 1000

        def decide(state: str) -> Decision:
            times = _times(state)
            if at not in times:
                return None, None, 0.0
            times.remove(at)
            return _encode(times), None, 0.0

        with own_transaction() as connection:
            compare_and_set(connection, key, decide)

    def clear(self, key: str) -> None:
        with own_transaction() as connection:
            connection.execute(delete(_TABLE).where(_TABLE.c.key == key))


class DatabaseRateStore:
    """``rates.RateStore`` in the database: the key's GCRA arrival time in a row. One read and one write per
    request, so it serves the limits off the hot path (revocation, token generation), not introspection."""

    def __init__(self, transaction: Callable[[], AbstractContextManager[Connection]] = own_transaction) -> None:
        self.transaction = transaction
        self._pruner = _Pruner()

    def acquire(self, key: str, rate: Rate, now: float, wait: WaitHook = NOT_GATED) -> float:
        # ``wait`` is not entered: the gated path's limit lives in memory or Redis, never here (limits/build.py).
        def decide(state: str) -> Decision:
            stored = float(state) if state else now
            if stored > now + rate.period:  # only a clock stepped back gets here: don't lock the key out for it
                stored = now
            arrival = max(stored, now) + rate.interval
            wait = arrival - rate.period - now
            if wait > 0:
                return None, None, wait
            return repr(arrival), _ms(arrival) + 1000, 0.0

        with self.transaction() as connection:
            delay = compare_and_set(connection, key, decide)
        if self.transaction is own_transaction:
            self._pruner.maybe_prune(now)
        return 1.0 if delay is None else delay


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _times(state: str) -> list[float]:
    return [int(part) / 1000 for part in state.split()]


def _encode(times: list[float]) -> str:
    return " ".join(str(_ms(t)) for t in times)
