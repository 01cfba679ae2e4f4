"""The periodic scan behind ``token.expiring`` (and ``token.expired`` when a grace period simply runs out).

Nothing in the domain happens at a deadline, so the worker looks ahead: tokens whose grace or scheduled end falls
within 7 days, or whose inactivity deadline falls within 24 hours, are announced once per token, reason and
deadline; the event's unique ``dedup_key`` makes the scan safe to run as often as you like, from any process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from ..domain_events import TokenEnded, TokenExpiring
from ..emitter import emit
from ..extensions import db
from ..integrations import token_state
from ..models import AccessToken, Integration
from ..principals import SYSTEM
from ..unit_of_work import unit_of_work
from . import outbox

SCHEDULED_END_NOTICE = timedelta(days=7)
INACTIVITY_NOTICE = timedelta(hours=24)
ENDED_LOOKBACK = timedelta(days=7)  # how far back a missed "grace ended" is still announced


@dataclass(frozen=True)
class DueNotice:
    """A live token's deadline inside its notice window: ``reason`` is grace, scheduled_end or inactivity."""

    token: AccessToken
    reason: str
    deadline: datetime


def due_notices(now: datetime, recent_use: Callable[[str], datetime | None] | None = None) -> list[DueNotice]:
    """Every live token's deadline that falls inside its notice window now (the webhook scan and the expiry mail
    both announce these). Liveness and the idle deadline are the token's own (TokenState), counting a use still in
    the activity buffer (``recent_use``)."""
    due: list[DueNotice] = []
    for row in _live_tokens(now):
        state = token_state(row)
        recent = recent_use(row.jti) if recent_use is not None else None
        if not state.is_live(now, recent):
            continue
        if row.ends_at is not None and row.ends_at <= now + SCHEDULED_END_NOTICE:
            due.append(DueNotice(row, "grace" if row.replaced_by else "scheduled_end", row.ends_at))
        idle = state.idle_deadline(recent)
        if idle is not None:
            ends = min(m for m in (row.ends_at, row.expires_at) if m is not None)
            if now < idle <= now + INACTIVITY_NOTICE and idle < ends:
                due.append(DueNotice(row, "inactivity", idle))
    return due


def scan(now: datetime, recent_use: Callable[[str], datetime | None] | None = None) -> int:
    """Emit every notice that is due and not yet emitted; returns how many events were recorded."""
    emitted = 0
    for notice in due_notices(now, recent_use):
        emitted += _once(
            TokenExpiring(
                actor=SYSTEM,
                now=now,
                token=notice.token,
                reason=notice.reason,
                deadline=notice.deadline,
                dedup_key=outbox.expiring_key(notice.token.jti, notice.reason, notice.deadline),
            )
        )
    for row in _recently_ended(now):
        emitted += _once(TokenEnded(actor=SYSTEM, now=now, token=row, dedup_key=outbox.ended_key(row.jti)))
    return emitted


def _live_tokens(now: datetime) -> list[AccessToken]:
    return list(
        db.session.scalars(
            select(AccessToken)
            .join(Integration, Integration.id == AccessToken.integration_id)
            .where(
                AccessToken.revoked_at.is_(None),
                AccessToken.expires_at > now,
                Integration.status == "active",
                or_(AccessToken.ends_at.is_(None), AccessToken.ends_at > now),
            )
        )
    )


def _recently_ended(now: datetime) -> list[AccessToken]:
    """Tokens whose scheduled end passed before anything else stopped them."""
    return list(
        db.session.scalars(
            select(AccessToken).where(
                AccessToken.ends_at.is_not(None),
                AccessToken.ends_at <= now,
                AccessToken.ends_at > now - ENDED_LOOKBACK,
                AccessToken.ends_at < AccessToken.expires_at,
                or_(AccessToken.revoked_at.is_(None), AccessToken.revoked_at > AccessToken.ends_at),
            )
        )
    )


def _once(event: TokenExpiring | TokenEnded) -> int:
    """Emit in a unit of work of its own unless already emitted; a concurrent scanner's duplicate loses on the key.
    Counts 1 if a webhook event was queued (some subscription wanted it)."""
    if outbox.is_emitted(event.dedup_key):
        return 0
    try:
        with unit_of_work():
            emit(event)
            queued = outbox.is_emitted(event.dedup_key)
    except IntegrityError:
        return 0
    return 1 if queued else 0
