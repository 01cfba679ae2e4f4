"""Token activity (last used, by whom, uses per day), buffered in memory and written in batches.

Introspection must not write to the database per request. Each process keeps counts in memory and a background
thread flushes them every ``AUTHSERVER_ACTIVITY_FLUSH_INTERVAL`` seconds (2 s by default) in one transaction, and
once more at shutdown. A crash (SIGKILL) loses at most the uses recorded since the last flush: one interval's worth.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .extensions import db
from .models import AccessToken, TokenUsageDaily

log = logging.getLogger(__name__)
RETENTION_DAYS = 400  # per-day counts are kept well past the 90 days the usage chart needs


@dataclass
class _Pending:
    last_used_at: datetime
    last_used_by: str | None
    per_day: dict[date, int] = field(default_factory=dict)


class ActivityBuffer:
    """Thread-safe accumulation of token uses; ``flush`` writes them all at once."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    def record(self, jti: str, used_by: str | None, now: datetime, count: int = 1) -> None:
        with self._lock:
            entry = self._pending.get(jti)
            if entry is None:
                entry = self._pending[jti] = _Pending(last_used_at=now, last_used_by=used_by)
            elif now >= entry.last_used_at:
                entry.last_used_at, entry.last_used_by = now, used_by
            day = now.date()
            entry.per_day[day] = entry.per_day.get(day, 0) + count

    def recent_use(self, jti: str) -> datetime | None:
        """A use seen by this process but not yet flushed (keeps the inactivity check exact locally)."""
        entry = self._pending.get(jti)
        return entry.last_used_at if entry is not None else None

    def take(self) -> dict[str, _Pending]:
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending

    def put_back(self, pending: dict[str, _Pending]) -> None:
        """After a failed flush, merge the batch back so nothing is lost while the database is away."""
        with self._lock:
            for jti, entry in pending.items():
                slot = self._pending.setdefault(jti, _Pending(entry.last_used_at, entry.last_used_by))
                if entry.last_used_at > slot.last_used_at:
                    slot.last_used_at, slot.last_used_by = entry.last_used_at, entry.last_used_by
                for day, count in entry.per_day.items():
                    slot.per_day[day] = slot.per_day.get(day, 0) + count

    def __len__(self) -> int:
        return len(self._pending)


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


def write_usage(pending: dict[str, _Pending]) -> None:
    known = set(db.session.scalars(select(AccessToken.jti).where(AccessToken.jti.in_(list(pending)))))
    rows = [
        {"b_jti": jti, "b_day": day, "b_count": count}
        for jti, entry in pending.items() if jti in known
        for day, count in entry.per_day.items() if count
    ]
    if rows:  # one upsert statement, built once per dialect, executed for every (token, day) at once
        db.session.connection().execute(_count_uses(db.engine.dialect.name), rows)
    touched = [{"b_jti": jti, "b_at": entry.last_used_at, "b_by": entry.last_used_by}
               for jti, entry in pending.items() if jti in known]
    if touched:  # one statement, executed for every token at once (a statement per token was most of a flush)
        db.session.connection().execute(_TOUCH_TOKEN, touched)
    db.session.commit()


@functools.cache
def _count_uses(dialect: str):
    """Add each (token, day)'s count to its row, creating the row if needed."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(TokenUsageDaily).values(
        jti=bindparam("b_jti", type_=TokenUsageDaily.jti.type), day=bindparam("b_day", type_=TokenUsageDaily.day.type),
        count=bindparam("b_count", type_=TokenUsageDaily.count.type))
    return statement.on_conflict_do_update(
        index_elements=["jti", "day"], set_={"count": TokenUsageDaily.count + statement.excluded.count})


_USED_AT = bindparam("b_at", type_=AccessToken.last_used_at.type)
# Last use moves forward only: a batch flushed late (another process, a retry) never rewinds it.
_TOUCH_TOKEN = (
    update(AccessToken)
    .where(AccessToken.jti == bindparam("b_jti"))
    .values(
        last_used_by=case(
            (and_(AccessToken.last_used_at.is_not(None), AccessToken.last_used_at > _USED_AT),
             AccessToken.last_used_by),
            else_=bindparam("b_by", type_=AccessToken.last_used_by.type),
        ),
        last_used_at=func.coalesce(case((AccessToken.last_used_at > _USED_AT, AccessToken.last_used_at),
                                        else_=_USED_AT), _USED_AT),
    )
)


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


class Flusher:
    """The background thread that writes buffered activity to the database every few seconds.

    With a Redis stage, the buffer is handed to Redis every quarter second (what a dead instance can lose) and
    one instance at a time moves the staged counts to the database each interval."""

    def __init__(self, app, buffer: ActivityBuffer, interval: float, stage=None) -> None:
        self.app, self.buffer, self.interval, self.stage = app, buffer, interval, stage
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="activity-flusher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        if self.stage is None:
            while not self._stop.wait(self.interval):
                self.flush_once()
            return
        from .activity_redis import HANDOFF_INTERVAL

        ticks_per_flush = max(1, round(self.interval / HANDOFF_INTERVAL))
        tick = 0
        while not self._stop.wait(HANDOFF_INTERVAL):
            self.hand_off()
            tick += 1
            if tick % ticks_per_flush == 0:
                self.flush_once()

    def hand_off(self) -> None:
        try:
            self.stage.hand_off(self.buffer)
        except Exception as exc:  # Redis away: counts stay in this process's buffer
            log.warning("activity hand-off to redis failed: %s", exc.__class__.__name__)

    def flush_once(self) -> int:
        with self.app.app_context():
            try:
                if self.stage is None:
                    return flush(self.buffer)
                return self._flush_stage()
            except Exception as exc:  # the database may be away; counts stay buffered
                db.session.rollback()
                log.warning("activity flush failed, will retry: %s", exc.__class__.__name__)
                return 0

    def _flush_stage(self) -> int:
        taken = self.stage.take_batch()
        if taken is None:
            return 0
        batch, pending = taken
        try:
            write_usage(pending)
        except Exception:
            self.stage.release()  # the batch stays in Redis for the next attempt
            raise
        self.stage.finish_batch(batch)
        return len(pending)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
        if self.stage is not None:
            self.hand_off()
        self.flush_once()
