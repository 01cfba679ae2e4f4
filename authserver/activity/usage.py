"""Token activity written to the database in batches (last used, by whom, uses per day), and read back per day.

Introspection must not write to the database per request. Each process keeps counts in memory (``buffer``) and a
background thread (``flusher``) writes them every ``AUTHSERVER_ACTIVITY_FLUSH_INTERVAL`` seconds (2 s by default) in
one transaction, and once more at shutdown. A crash (SIGKILL) loses at most the uses recorded since the last flush:
one interval's worth.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import Dialect, and_, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import ClauseElement

from ..extensions import db
from ..models import AccessToken, TokenUsageDaily
from .batch_statements import BatchStatement
from .buffer import ActivityBuffer, PendingUse

RETENTION_DAYS = 400  # per-day counts are kept well past the 90 days the usage chart needs


def flush(buffer: ActivityBuffer) -> int:
    """Write everything buffered in one transaction; returns the number of tokens touched."""
    pending = buffer.take()
    if not pending:
        return 0
    try:
        write_usage(pending)
    except Exception:
        db.session.rollback()
        buffer.put_back(pending)
        raise
    return len(pending)


def write_usage(pending: dict[str, PendingUse]) -> None:
    known = _known_jtis(list(pending))
    dialect = db.engine.dialect
    connection = db.session.connection()
    # One upsert per (token, day), then one last-use update per token: each a statement compiled once, its rows
    # bound a slice at a time (batch_statements: a flush's Python never holds the GIL for long).
    _count_uses(dialect).execute(
        connection,
        (
            {"b_jti": jti, "b_day": day, "b_count": count}
            for jti, entry in pending.items()
            if jti in known
            for day, count in entry.per_day.items()
            if count
        ),
    )
    _touch_token(dialect).execute(
        connection,
        (
            {"b_jti": jti, "b_at": entry.last_used_at, "b_by": entry.last_used_by}
            for jti, entry in pending.items()
            if jti in known
        ),
    )
    db.session.commit()


KNOWN_CHUNK = 500


def _known_jtis(jtis: list[str]) -> set[str]:
    """Which of ``jtis`` still have a token row, asked in chunks of exactly ``KNOWN_CHUNK`` (the last one padded by
    repeating a jti), so the SELECT's text never changes. An IN list of each flush's own length was a new SQL text
    each time: sqlite3 keeps the last 128 per pooled connection, each compiled statement O(length), and a worker
    under steady load grew ~0.5 MiB/s for minutes (docs/performance-log.md, 2026-12-07)."""
    known: set[str] = set()
    for start in range(0, len(jtis), KNOWN_CHUNK):
        chunk = jtis[start : start + KNOWN_CHUNK]
        chunk += [chunk[-1]] * (KNOWN_CHUNK - len(chunk))
        known.update(db.session.scalars(select(AccessToken.jti).where(AccessToken.jti.in_(chunk))))
    return known


def _upsert_count(dialect_name: str) -> postgresql.Insert | sqlite.Insert:
    """Add each (token, day)'s count to its row, creating the row if needed."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = insert(TokenUsageDaily).values(
        jti=bindparam("b_jti", type_=TokenUsageDaily.jti.type),
        day=bindparam("b_day", type_=TokenUsageDaily.day.type),
        count=bindparam("b_count", type_=TokenUsageDaily.count.type),
    )
    return statement.on_conflict_do_update(
        index_elements=["jti", "day"], set_={"count": TokenUsageDaily.count + statement.excluded.count}
    )


_USED_AT = bindparam("b_at", type_=AccessToken.last_used_at.type)
# Last use moves forward only: a batch flushed late (another process, a retry) never rewinds it.
_TOUCH_TOKEN = (
    update(AccessToken)
    .where(AccessToken.jti == bindparam("b_jti"))
    .values(
        last_used_by=case(
            (
                and_(AccessToken.last_used_at.is_not(None), AccessToken.last_used_at > _USED_AT),
                AccessToken.last_used_by,
            ),
            else_=bindparam("b_by", type_=AccessToken.last_used_by.type),
        ),
        last_used_at=func.coalesce(
            case((AccessToken.last_used_at > _USED_AT, AccessToken.last_used_at), else_=_USED_AT), _USED_AT
        ),
    )
)

_BATCHES: dict[tuple[str, str, str], BatchStatement] = {}


def _count_uses(dialect: Dialect) -> BatchStatement:
    return _batch("count_uses", dialect, lambda: _upsert_count(dialect.name))


def _touch_token(dialect: Dialect) -> BatchStatement:
    return _batch("touch_token", dialect, lambda: _TOUCH_TOKEN)


def _batch(name: str, dialect: Dialect, statement: Callable[[], ClauseElement]) -> BatchStatement:
    """``name``'s statement compiled once per kind of database and driver (not per engine: tests make many)."""
    key = (name, dialect.name, dialect.driver)
    found = _BATCHES.get(key)
    if found is None:
        found = _BATCHES[key] = BatchStatement(statement(), dialect)
    return found


def usage_by_day(jtis: list[str], *, since: date, until: date) -> dict[date, int]:
    """Uses per day over [since, until], summed across the given tokens (zero-filled)."""
    totals = {since + timedelta(days=offset): 0 for offset in range((until - since).days + 1)}
    if jtis:
        rows = db.session.execute(
            select(TokenUsageDaily.day, func.sum(TokenUsageDaily.count))
            .where(TokenUsageDaily.jti.in_(jtis), TokenUsageDaily.day >= since, TokenUsageDaily.day <= until)
            .group_by(TokenUsageDaily.day)
        )
        for day, count in rows:
            totals[day] = int(count)
    return totals
