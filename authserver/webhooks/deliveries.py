"""The delivery log and retry schedule: claim a due delivery, record what happened, redeliver by hand.

A worker *leases* a delivery (commits ``lease_until``) before sending it. If the worker dies mid-request the
lease runs out and any worker sends it again, with the same ``webhook-id``: a crash never loses an event, and a
receiver may see a duplicate it can recognise. Failures are retried with exponential backoff and jitter until
``retry_until`` (26 hours after the event), and once more at that moment.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update

from .. import domain_events as de
from ..durations import isoformat
from ..emitter import emit
from ..errors import ConflictError, NotFoundError
from ..extensions import db
from ..models import WebhookDelivery, WebhookEvent, WebhookSubscription
from ..principals import Principal
from ..security import new_id
from .outbox import RETRY_WINDOW
from .subscriptions import get_subscription_for

MAX_DELAY = 6 * 3600.0
LEASE_MARGIN = 5.0  # seconds beyond the request timeout before another worker may take over


def backoff(attempts: int, base: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failure: base * 4^(n-1), capped at 6 h, jittered to 50-100 %."""
    delay = min(base * 4 ** max(attempts - 1, 0), MAX_DELAY)
    return (rng or random).uniform(delay / 2, delay)  # noqa: S311 - jitter, not a secret


def due_ids(now: datetime, *, limit: int = 50) -> list[str]:
    return list(
        db.session.scalars(
            select(WebhookDelivery.id)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until <= now),
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        )
    )


def claim(delivery_id: str, now: datetime, *, lease_seconds: float) -> str | None:
    """Take the delivery for one attempt; None if another worker has it or it is no longer due."""
    lease_id = new_id("lease")
    result = cast(
        CursorResult[Any],
        db.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now,
                or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until <= now),
            )
            .values(
                lease_id=lease_id,
                lease_until=now + timedelta(seconds=lease_seconds),
                attempts=WebhookDelivery.attempts + 1,
                last_attempt_at=now,
            )
        ),
    )
    db.session.commit()
    return lease_id if result.rowcount == 1 else None


def record_success(delivery_id: str, now: datetime, status_code: int) -> None:
    """Success wins even if the lease ran out meanwhile: the receiver has the event."""
    db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == "pending",
        )
        .values(
            status="succeeded",
            delivered_at=now,
            last_status_code=status_code,
            last_error=None,
            next_attempt_at=None,
            lease_id=None,
            lease_until=None,
        )
    )
    db.session.commit()


def record_failure(
    delivery_id: str,
    lease_id: str,
    now: datetime,
    *,
    error: str,
    status_code: int | None,
    base: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> str:
    """Schedule the next attempt (or give up past ``retry_until``); returns the new status."""
    row = db.session.get(WebhookDelivery, delivery_id)
    if row is None or row.lease_id != lease_id or row.status != "pending":
        db.session.rollback()
        return row.status if row is not None else "gone"
    row.last_error, row.last_status_code = error[:500], status_code
    row.lease_id = row.lease_until = None
    if now >= row.retry_until:
        row.status, row.next_attempt_at = "failed", None
    else:
        delay = max(backoff(row.attempts, base, rng), min(retry_after or 0.0, MAX_DELAY))
        row.next_attempt_at = min(now + timedelta(seconds=delay), row.retry_until)
    db.session.commit()
    return row.status


def give_up(delivery_id: str, now: datetime, *, status: str, error: str, status_code: int | None = None) -> None:
    """End a delivery without retrying: its subscription is gone (cancelled) or answered 410 Gone (failed)."""
    db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(
            status=status,
            last_error=error[:500],
            last_status_code=status_code,
            next_attempt_at=None,
            lease_id=None,
            lease_until=None,
        )
    )
    db.session.commit()


def get_delivery_for(principal: Principal, delivery_id: str, *, write: bool = False) -> WebhookDelivery:
    row = db.session.get(WebhookDelivery, delivery_id) if isinstance(delivery_id, str) else None
    if row is None:
        raise NotFoundError(f"delivery {delivery_id!r} not found")
    try:
        get_subscription_for(principal, row.subscription_id, write=write)
    except NotFoundError:
        subscription = db.session.get(WebhookSubscription, row.subscription_id)
        if subscription is None or subscription.status != "deleted" or not principal.is_operator:
            raise NotFoundError(f"delivery {delivery_id!r} not found") from None
    return row


def list_deliveries(
    principal: Principal, subscription_id: str, *, limit: int = 100, status: str | None = None
) -> list[tuple[WebhookDelivery, WebhookEvent]]:
    """A subscription's delivery log, newest first."""
    subscription = get_subscription_for(principal, subscription_id)
    query = (
        select(WebhookDelivery, WebhookEvent)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.subscription_id == subscription.id)
    )
    if status:
        query = query.where(WebhookDelivery.status == status)
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(max(1, min(limit, 500)))
    return [(delivery, event) for delivery, event in db.session.execute(query)]


def redeliver(principal: Principal, delivery_id: str, *, now: datetime) -> WebhookDelivery:
    """Send again by hand (after a receiver was fixed, or to replay): due now, with a fresh retry window."""
    row = get_delivery_for(principal, delivery_id, write=True)
    subscription = db.session.get(WebhookSubscription, row.subscription_id)
    if subscription is None or subscription.status != "active":
        raise ConflictError("the subscription is not active; nothing can be delivered to it")
    if row.lease_until is not None and row.lease_until > now:
        raise ConflictError("this delivery is being attempted right now")
    before = serialize_delivery(row, None, now)
    row.status, row.next_attempt_at, row.retry_until = "pending", now, now + RETRY_WINDOW
    row.lease_id = row.lease_until = None
    emit(
        de.WebhookRedeliveryRequested(
            actor=principal, now=now, account_id=subscription.account_id, delivery_id=row.id, before=before
        )
    )
    db.session.flush()
    return row


def serialize_delivery(row: WebhookDelivery, event: WebhookEvent | None, now: datetime) -> dict:
    body = {
        "id": row.id,
        "subscription_id": row.subscription_id,
        "event_id": row.event_id,
        "status": row.status,
        "in_flight": row.lease_until is not None and row.lease_until > now,
        "attempts": row.attempts,
        "next_attempt_at": isoformat(row.next_attempt_at),
        "retry_until": isoformat(row.retry_until),
        "last_attempt_at": isoformat(row.last_attempt_at),
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "delivered_at": isoformat(row.delivered_at),
        "created_at": isoformat(row.created_at),
    }
    if event is not None:
        body["event"] = {"id": event.id, "type": event.type, "occurred_at": isoformat(event.occurred_at)}
    return body
