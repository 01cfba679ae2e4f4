"""Retention: delete rows nobody needs any more, a batch at a time, so no table is locked for long.

What goes, and when (each window an ``AUTHSERVER_RETAIN_*`` setting; ``off`` keeps that kind for ever):

    events      feed rows (token_events) older than the window; never the newest row, whose id is the watermark
                that tells a follower with an older cursor that it missed pruned rows (oauth/feed.py: 410)
    deliveries  webhook deliveries that ended (succeeded, failed, cancelled) longer ago than the window, then outbox
                events left with no delivery; a pending delivery is never touched, and an event carrying a dedup
                key is kept at least DEDUP_HORIZON so the expiry scan never announces the same thing twice
    sessions    sign-in sessions that ended (signed out, or past their absolute end) longer ago than the window
    audit       audit rows older than the window

Usage and activity counters are never pruned. Each batch is one ``unit_of_work``: called outside one, every batch
commits on its own (the command and the periodic job); inside one, everything joins the caller's transaction.

Several processes may prune at once (each serving process runs the job): every delete names the rows it removes
by primary key and a row is deleted once, so concurrent runs only split the work and their counts add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Select, Table, and_, delete, exists, func, or_, select

from . import domain_events as de
from .emitter import emit
from .extensions import db
from .models import AuditEvent, TokenEvent, UserSession, WebhookDelivery, WebhookEvent
from .principals import Principal
from .unit_of_work import unit_of_work

KINDS = ("events", "deliveries", "webhook_events", "sessions", "audit")
BATCH_SIZE = 1000
# token.expiring / token.expired notices are de-duplicated by their outbox event's dedup key; the scan looks at most
# 7 days ahead and 7 days back, so an event with a key is kept at least this long whatever the setting says.
DEDUP_HORIZON = timedelta(days=15)
_ENDED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class RetentionSettings:
    """Seconds each kind is kept after it stops mattering; None keeps it for ever."""

    events: int | None
    deliveries: int | None
    sessions: int | None
    audit: int | None

    @classmethod
    def from_config(cls, config: Any) -> RetentionSettings:
        return cls(
            events=config["AUTHSERVER_RETAIN_EVENTS"],
            deliveries=config["AUTHSERVER_RETAIN_DELIVERIES"],
            sessions=config["AUTHSERVER_RETAIN_SESSIONS"],
            audit=config["AUTHSERVER_RETAIN_AUDIT"],
        )


def _before(now: datetime, seconds: int | None) -> datetime | None:
    return None if seconds is None else now - timedelta(seconds=seconds)


def _doomed(now: datetime, settings: RetentionSettings) -> dict[str, Select[Any]]:
    """For each kind, the primary keys of the rows it may delete now (kinds switched off are left out)."""
    found: dict[str, Select[Any]] = {}
    cutoff = _before(now, settings.events)
    if cutoff is not None:
        newest = select(func.max(TokenEvent.id)).scalar_subquery()
        found["events"] = select(TokenEvent.id).where(TokenEvent.occurred_at < cutoff, TokenEvent.id < newest)
    cutoff = _before(now, settings.deliveries)
    if cutoff is not None:
        ended_at = func.coalesce(
            WebhookDelivery.delivered_at, WebhookDelivery.last_attempt_at, WebhookDelivery.created_at
        )
        found["deliveries"] = select(WebhookDelivery.id).where(WebhookDelivery.status.in_(_ENDED), ended_at < cutoff)
        keyed_cutoff = min(cutoff, now - DEDUP_HORIZON)
        found["webhook_events"] = select(WebhookEvent.id).where(
            ~exists().where(WebhookDelivery.event_id == WebhookEvent.id),
            or_(
                and_(WebhookEvent.dedup_key.is_(None), WebhookEvent.occurred_at < cutoff),
                WebhookEvent.occurred_at < keyed_cutoff,
            ),
        )
    cutoff = _before(now, settings.sessions)
    if cutoff is not None:
        ended: ColumnElement[bool] = or_(UserSession.expires_at < cutoff, UserSession.revoked_at < cutoff)
        found["sessions"] = select(UserSession.id_digest).where(ended)
    cutoff = _before(now, settings.audit)
    if cutoff is not None:
        found["audit"] = select(AuditEvent.id).where(AuditEvent.occurred_at < cutoff)
    return found


# Deleted through the tables: the ORM guard in audit.py refuses every other delete of audit rows, and retention is
# the one sanctioned way history leaves.
_TABLES = {
    "events": (cast(Table, TokenEvent.__table__), "id"),
    "deliveries": (cast(Table, WebhookDelivery.__table__), "id"),
    "webhook_events": (cast(Table, WebhookEvent.__table__), "id"),
    "sessions": (cast(Table, UserSession.__table__), "id_digest"),
    "audit": (cast(Table, AuditEvent.__table__), "id"),
}


def count_prunable(now: datetime, settings: RetentionSettings) -> dict[str, int]:
    """What ``prune`` would delete at ``now`` (``--dry-run``); deletes nothing."""
    counts = dict.fromkeys(KINDS, 0)
    doomed = _doomed(now, settings)
    for kind, ids in doomed.items():
        if kind == "webhook_events" and "deliveries" in doomed:
            # Events whose last deliveries go in this run become prunable too.
            ids = select(WebhookEvent.id).where(
                ~exists().where(
                    WebhookDelivery.event_id == WebhookEvent.id, WebhookDelivery.id.not_in(doomed["deliveries"])
                ),
                WebhookEvent.id.in_(_keyed_age_filter(now, settings)),
            )
        counts[kind] = db.session.scalar(select(func.count()).select_from(ids.subquery())) or 0
    return counts


def _keyed_age_filter(now: datetime, settings: RetentionSettings) -> Select[Any]:
    assert settings.deliveries is not None  # only called when deliveries are pruned
    cutoff = now - timedelta(seconds=settings.deliveries)
    return select(WebhookEvent.id).where(
        or_(
            and_(WebhookEvent.dedup_key.is_(None), WebhookEvent.occurred_at < cutoff),
            WebhookEvent.occurred_at < min(cutoff, now - DEDUP_HORIZON),
        )
    )


def prune(
    now: datetime, settings: RetentionSettings, *, batch_size: int = BATCH_SIZE, actor: Principal | None = None
) -> dict[str, int]:
    """Delete what retention allows at ``now``, ``batch_size`` rows per transaction; returns the count per kind.
    With ``actor``, a ``retention.pruned`` audit row records the counts (only when something was deleted)."""
    counts = dict.fromkeys(KINDS, 0)
    for kind in KINDS:  # deliveries before webhook_events: an event goes once its deliveries have
        while True:
            with unit_of_work():
                ids = _doomed(now, settings).get(kind)
                if ids is None:
                    break
                table, key = _TABLES[kind]
                batch = list(db.session.scalars(ids.limit(batch_size)))
                if not batch:
                    break
                result = db.session.execute(delete(table).where(table.c[key].in_(batch)))
                deleted = cast(CursorResult[Any], result).rowcount
                counts[kind] += max(deleted, 0)
            if len(batch) < batch_size:
                break
    if actor is not None and any(counts.values()):
        with unit_of_work():
            emit(de.RetentionPruned(actor=actor, now=now, counts=counts))
    return counts
