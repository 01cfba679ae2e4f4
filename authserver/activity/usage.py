"""Token activity written to the database in batches (last used, by whom, uses per day), and read back per day.

Introspection must not write to the database per request. Each process keeps counts in memory (``buffer``) and a
background thread (``flusher``) writes them every ``AUTHSERVER_ACTIVITY_FLUSH_INTERVAL`` seconds (2 s by default) in
one transaction, and once more at shutdown. A crash (SIGKILL) loses at most the uses recorded since the last flush:
one interval's worth.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from ..extensions import db
from ..models import TokenUsageDaily
from . import batch_writes
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
    """In one transaction, one statement per write for the whole batch (batch_writes: the driver lets go of the GIL
    once per write, not once per row). Uses of tokens that no longer have a row are dropped."""
    batch_writes.for_dialect(db.engine.dialect).write(db.session.connection(), pending)
    db.session.commit()


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
