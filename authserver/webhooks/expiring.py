"""The periodic scan behind ``token.expiring`` (and ``token.expired`` when a grace period simply runs out).

Nothing in the domain happens at a deadline, so the worker looks ahead: tokens whose grace or scheduled end falls
within 7 days, or whose inactivity deadline falls within 24 hours, are announced once per token, reason and
deadline; the event's unique ``dedup_key`` makes the scan safe to run as often as you like, from any process.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import AccessToken, Integration
from . import outbox

SCHEDULED_END_NOTICE = timedelta(days=7)
INACTIVITY_NOTICE = timedelta(hours=24)
ENDED_LOOKBACK = timedelta(days=7)  # how far back a missed "grace ended" is still announced


def scan(now: datetime) -> int:
    """Emit every notice that is due and not yet emitted; returns how many events were recorded."""
    emitted = 0
    for row, window in _live_tokens(now):
        if row.ends_at is not None and row.ends_at <= now + SCHEDULED_END_NOTICE:
            reason = "grace" if row.replaced_by else "scheduled_end"
            emitted += _once(outbox.expiring_key(row.jti, reason, row.ends_at),
                             lambda r=row, why=reason: outbox.token_expiring(r, now, reason=why, deadline=r.ends_at))
        if window is not None:
            idle = max(m for m in (row.last_used_at, row.issued_at) if m is not None) + timedelta(seconds=window)
            ends = min(m for m in (row.ends_at, row.expires_at) if m is not None)
            if now < idle <= now + INACTIVITY_NOTICE and idle < ends:
                emitted += _once(outbox.expiring_key(row.jti, "inactivity", idle),
                                 lambda r=row, d=idle: outbox.token_expiring(r, now, reason="inactivity", deadline=d))
    for row in _recently_ended(now):
        emitted += _once(outbox.ended_key(row.jti), lambda r=row: outbox.token_ended(r, now))
    return emitted


def _live_tokens(now: datetime):
    return db.session.execute(
        select(AccessToken, Integration.inactivity_window)
        .join(Integration, Integration.id == AccessToken.integration_id)
        .where(AccessToken.revoked_at.is_(None), AccessToken.expires_at > now, Integration.status == "active",
               or_(AccessToken.ends_at.is_(None), AccessToken.ends_at > now))
    ).all()


def _recently_ended(now: datetime) -> list[AccessToken]:
    """Tokens whose scheduled end passed before anything else stopped them."""
    return list(db.session.scalars(select(AccessToken).where(
        AccessToken.ends_at.is_not(None), AccessToken.ends_at <= now, AccessToken.ends_at > now - ENDED_LOOKBACK,
        AccessToken.ends_at < AccessToken.expires_at,
        or_(AccessToken.revoked_at.is_(None), AccessToken.revoked_at > AccessToken.ends_at))))


def _once(key: str, emit) -> int:
    """Emit in its own transaction unless already emitted; a concurrent scanner's duplicate loses on the key."""
    if outbox.is_emitted(key):
        return 0
    try:
        event = emit()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return 0
    return 1 if event is not None else 0
