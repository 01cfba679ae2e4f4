"""The outbox: the domain records webhook events here, inside the transaction of the change that caused them.

Each verb calls one function below. It adds an event row and one pending delivery per matching subscription to
the current session and never commits: the change, its audit row and its webhooks commit together or not at all.
Payloads name tokens by id (``jti``) and never carry a token.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from ..durations import isoformat
from ..extensions import db
from ..models import AccessToken, ApiClient, Integration, WebhookDelivery, WebhookEvent, WebhookSubscription
from ..security import new_id
from . import catalogue

# Failed deliveries are retried with backoff for at least this long (Standard Webhooks: "spanning multiple days").
RETRY_WINDOW = timedelta(hours=26)


def emit(event_type: str, *, account_id: str, integration_id: str | None, now: datetime, data: dict,
         dedup_key: str | None = None) -> WebhookEvent | None:
    """Queue ``event_type`` for every active subscription that wants it; nothing is stored if nobody does."""
    subscribers = [s for s in _subscribers(account_id, integration_id) if event_type in s.event_types.split()]
    if not subscribers:
        return None
    body = json.dumps({"type": event_type, "timestamp": isoformat(now), "data": data},
                      separators=(",", ":"), sort_keys=True)
    event = WebhookEvent(id=new_id("msg"), type=event_type, account_id=account_id, integration_id=integration_id,
                         occurred_at=now, body=body, dedup_key=dedup_key)
    db.session.add(event)
    for subscription in subscribers:
        db.session.add(WebhookDelivery(id=new_id("dlv"), event=event, subscription_id=subscription.id,
                                       status="pending", attempts=0, next_attempt_at=now,
                                       retry_until=now + RETRY_WINDOW, created_at=now))
    return event


def _subscribers(account_id: str, integration_id: str | None) -> list[WebhookSubscription]:
    """The account's own subscriptions (all, or this integration's) and resource services that see the account."""
    services = select(ApiClient.client_id).where(
        ApiClient.kind == "resource-service", ApiClient.disabled_at.is_(None),
        or_(ApiClient.account_id.is_(None), ApiClient.account_id == account_id))
    return list(db.session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.status == "active",
        or_(and_(WebhookSubscription.client_id.is_(None), WebhookSubscription.account_id == account_id,
                 or_(WebhookSubscription.integration_id.is_(None),
                     WebhookSubscription.integration_id == integration_id)),
            WebhookSubscription.client_id.in_(services)),
    ).order_by(WebhookSubscription.created_at, WebhookSubscription.id)))


def _token(row: AccessToken) -> dict:
    return {"account_id": row.account_id, "integration_id": row.integration_id, "token_id": row.jti,
            "scopes": sorted(row.scopes.split()), "issued_at": isoformat(row.issued_at),
            "expires_at": isoformat(row.expires_at)}


# -- one function per domain verb ----------------------------------------------------------------------
def integration_created(integration: Integration, now: datetime) -> None:
    emit(catalogue.INTEGRATION_CREATED, account_id=integration.account_id, integration_id=integration.id, now=now,
         data={"account_id": integration.account_id, "integration_id": integration.id, "name": integration.name,
               "scopes": sorted(integration.scopes.split()), "created_by": integration.created_by})


def token_generated(row: AccessToken, now: datetime) -> None:
    emit(catalogue.TOKEN_GENERATED, account_id=row.account_id, integration_id=row.integration_id, now=now,
         data=_token(row))


def token_rotated(row: AccessToken, previous: list[AccessToken], now: datetime, *, old_tokens_end: datetime) -> None:
    """``old_tokens_end`` is now (rotate now) or the grace deadline (rotate with grace)."""
    emit(catalogue.TOKEN_ROTATED, account_id=row.account_id, integration_id=row.integration_id, now=now,
         data=_token(row) | {"previous_token_ids": [p.jti for p in previous],
                             "previous_tokens_end_at": isoformat(old_tokens_end),
                             "grace": old_tokens_end > now})


def tokens_expired(rows: list[AccessToken], now: datetime, *, reason: str) -> None:
    """One event per token that stopped before its exp (by an admin, or idle). A token whose scheduled end had
    already passed was announced by the scan (``token_ended``) when it ended, so it is skipped here."""
    for row in rows:
        if row.ends_at is not None and row.ends_at <= now:
            continue
        emit(catalogue.TOKEN_EXPIRED, account_id=row.account_id, integration_id=row.integration_id, now=now,
             data=_token(row) | {"reason": reason, "ended_at": isoformat(now)})


def token_ended(row: AccessToken, now: datetime) -> WebhookEvent | None:
    """A grace period or scheduled end ran out (found by the periodic scan; once per token)."""
    assert row.ends_at is not None
    return emit(catalogue.TOKEN_EXPIRED, account_id=row.account_id, integration_id=row.integration_id, now=now,
                data=_token(row) | {"reason": "grace_ended" if row.replaced_by else "scheduled_end",
                                    "ended_at": isoformat(row.ends_at)},
                dedup_key=ended_key(row.jti))


def token_revoked(row: AccessToken, now: datetime) -> None:
    emit(catalogue.TOKEN_REVOKED, account_id=row.account_id, integration_id=row.integration_id, now=now,
         data=_token(row) | {"reason": row.revocation_reason, "revoked_at": isoformat(row.revoked_at)})


def scopes_changed(integration: Integration, before: list[str], after: list[str], now: datetime) -> None:
    emit(catalogue.INTEGRATION_SCOPES_CHANGED, account_id=integration.account_id, integration_id=integration.id,
         now=now, data={"account_id": integration.account_id, "integration_id": integration.id,
                        "scopes_before": sorted(before), "scopes": sorted(after)})


def integration_status_changed(integration: Integration, now: datetime) -> None:
    """Only deletion is a webhook event; disabling and enabling reach resource services through the feed."""
    if integration.status == "deleted":
        emit(catalogue.INTEGRATION_DELETED, account_id=integration.account_id, integration_id=integration.id,
             now=now, data={"account_id": integration.account_id, "integration_id": integration.id,
                            "name": integration.name, "deleted_at": isoformat(now)})


def token_expiring(row: AccessToken, now: datetime, *, reason: str, deadline: datetime) -> WebhookEvent | None:
    """Once per token, reason and deadline (a token used again gets a new inactivity deadline, and a new notice)."""
    return emit(catalogue.TOKEN_EXPIRING, account_id=row.account_id, integration_id=row.integration_id, now=now,
                data=_token(row) | {"reason": reason, "ends_at": isoformat(deadline)},
                dedup_key=expiring_key(row.jti, reason, deadline))


def expiring_key(jti: str, reason: str, deadline: datetime) -> str:
    return f"token.expiring:{jti}:{reason}:{int(deadline.timestamp())}"


def ended_key(jti: str) -> str:
    return f"token.expired:{jti}"


def is_emitted(dedup_key: str) -> bool:
    return db.session.scalar(select(WebhookEvent.id).where(WebhookEvent.dedup_key == dedup_key)) is not None
