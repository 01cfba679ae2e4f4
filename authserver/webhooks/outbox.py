"""The outbox: the domain records webhook events here, inside the transaction of the change that caused them.

``project`` turns a domain event (domain_events) into webhook events: an event row and one pending delivery per
matching subscription, added to the current session and never committed here: the change, its audit row and its
webhooks commit together or not at all.
Payloads name tokens by id (``jti``) and never carry a token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update

from .. import domain_events as de
from ..domain_events import DomainEvent
from ..durations import isoformat
from ..extensions import db
from ..models import AccessToken, ApiClient, Integration, WebhookDelivery, WebhookEvent, WebhookSubscription
from ..security import new_id
from . import catalogue

# Failed deliveries are retried with backoff for at least this long (Standard Webhooks: "spanning multiple days").
RETRY_WINDOW = timedelta(hours=26)


def queue(
    event_type: str,
    *,
    account_id: str,
    integration_id: str | None,
    now: datetime,
    data: dict,
    dedup_key: str | None = None,
) -> WebhookEvent | None:
    """Queue ``event_type`` for every active subscription that wants it; nothing is stored if nobody does."""
    subscribers = [s for s in _subscribers(account_id, integration_id) if event_type in s.event_types.split()]
    if not subscribers:
        return None
    return _store(event_type, account_id, integration_id, now, data, dedup_key, subscribers)


def _store(
    event_type: str,
    account_id: str,
    integration_id: str | None,
    now: datetime,
    data: dict,
    dedup_key: str | None,
    subscribers: list[WebhookSubscription],
    event_id: str | None = None,
) -> WebhookEvent:
    """The event row (its body is what is signed) and one pending delivery per subscriber."""
    body = json.dumps(
        {"type": event_type, "timestamp": isoformat(now), "data": data}, separators=(",", ":"), sort_keys=True
    )
    event = WebhookEvent(
        id=event_id or new_id("msg"),
        type=event_type,
        account_id=account_id,
        integration_id=integration_id,
        occurred_at=now,
        body=body,
        dedup_key=dedup_key,
    )
    db.session.add(event)
    for subscription in subscribers:
        db.session.add(
            WebhookDelivery(
                id=new_id("dlv"),
                event=event,
                subscription_id=subscription.id,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                retry_until=now + RETRY_WINDOW,
                created_at=now,
            )
        )
    return event


def _subscribers(account_id: str, integration_id: str | None) -> list[WebhookSubscription]:
    """The account's own subscriptions (all, or this integration's) and resource services that see the account."""
    services = select(ApiClient.client_id).where(
        ApiClient.kind == "resource-service",
        ApiClient.disabled_at.is_(None),
        or_(ApiClient.account_id.is_(None), ApiClient.account_id == account_id),
    )
    return list(
        db.session.scalars(
            select(WebhookSubscription)
            .where(
                WebhookSubscription.status == "active",
                or_(
                    and_(
                        WebhookSubscription.client_id.is_(None),
                        WebhookSubscription.account_id == account_id,
                        or_(
                            WebhookSubscription.integration_id.is_(None),
                            WebhookSubscription.integration_id == integration_id,
                        ),
                    ),
                    WebhookSubscription.client_id.in_(services),
                ),
            )
            .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
        )
    )


def data_subscribers(account_id: str, event_type: str) -> list[WebhookSubscription]:
    """The account's integration subscriptions that asked for ``event_type`` and whose integration is active and
    holds its read scope right now (the worker asks again before each attempt: ``holds_data_scope``)."""
    rows = db.session.execute(
        select(WebhookSubscription, Integration)
        .join(Integration, Integration.id == WebhookSubscription.integration_id)
        .where(
            WebhookSubscription.status == "active",
            WebhookSubscription.account_id == account_id,
            WebhookSubscription.client_id.is_(None),
            WebhookSubscription.integration_id.is_not(None),
        )
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    return [
        subscription
        for subscription, integration in rows
        if event_type in subscription.event_types.split() and data_refusal(integration, event_type) is None
    ]


def data_refusal(integration: Integration | None, event_type: str) -> str | None:
    """Why ``integration`` may not receive the data event ``event_type`` now, or None if it may."""
    scope = catalogue.required_scope(event_type)
    if scope is None:
        return None
    if integration is None or integration.status != "active":
        return f"integration {integration.status if integration else 'deleted'}"
    if scope not in integration.scopes.split():
        return f"integration no longer holds {scope}"
    return None


def _service_event(event: de.ServiceEventPublished) -> None:
    """Stored even when nobody subscribes: the row is what recognises the service's retry (its dedup key)."""
    _store(
        event.event_type,
        event.account_id,
        None,
        event.now,
        {
            "account_id": event.account_id,
            "service": event.client_id,
            "occurred_at": isoformat(event.occurred_at),
            "object": event.data,
        },
        event.dedup_key,
        data_subscribers(event.account_id, event.event_type),
        event_id=event.message_id,
    )


def _token(row: AccessToken) -> dict:
    return {
        "account_id": row.account_id,
        "integration_id": row.integration_id,
        "token_id": row.jti,
        "scopes": sorted(row.scopes.split()),
        "issued_at": isoformat(row.issued_at),
        "expires_at": isoformat(row.expires_at),
    }


# -- the projector: which webhook each domain event queues (domain_events declares WEBHOOKS) ----------------
def project(event: DomainEvent) -> None:
    """Queue the webhook events ``event`` declares, for the subscriptions that asked for them."""
    if event.WEBHOOKS:
        _PROJECTIONS[type(event)](event)


def _integration(integration: Integration) -> dict:
    return {"account_id": integration.account_id, "integration_id": integration.id}


def _to(row: AccessToken, event_type: str, now: datetime, data: dict, dedup_key: str | None = None) -> None:
    queue(
        event_type,
        account_id=row.account_id,
        integration_id=row.integration_id,
        now=now,
        data=_token(row) | data,
        dedup_key=dedup_key,
    )


def _integration_created(event: de.IntegrationCreated) -> None:
    integration = event.integration
    queue(
        catalogue.INTEGRATION_CREATED,
        account_id=integration.account_id,
        integration_id=integration.id,
        now=event.now,
        data=_integration(integration)
        | {
            "name": integration.name,
            "scopes": sorted(integration.scopes.split()),
            "created_by": integration.created_by,
        },
    )


def _scopes_changed(integration: Integration, before: list[str], after: list[str], now: datetime) -> None:
    _cancel_data_deliveries(integration.id, after)
    queue(
        catalogue.INTEGRATION_SCOPES_CHANGED,
        account_id=integration.account_id,
        integration_id=integration.id,
        now=now,
        data=_integration(integration) | {"scopes_before": sorted(before), "scopes": sorted(after)},
    )


def _cancel_data_deliveries(integration_id: str, scopes: list[str]) -> None:
    """Narrowing stops data at once: pending deliveries of data events whose read scope the integration lost are
    cancelled, with the reason (the worker also checks the scope before every attempt)."""
    for scope in sorted({scope for scope, _text in catalogue.DATA_EVENTS.values()} - set(scopes)):
        types = [name for name, (needs, _text) in catalogue.DATA_EVENTS.items() if needs == scope]
        db.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.status == "pending",
                WebhookDelivery.subscription_id.in_(
                    select(WebhookSubscription.id).where(WebhookSubscription.integration_id == integration_id)
                ),
                WebhookDelivery.event_id.in_(select(WebhookEvent.id).where(WebhookEvent.type.in_(types))),
            )
            .values(status="cancelled", next_attempt_at=None, last_error=f"integration no longer holds {scope}")
        )


def _integration_deleted(event: de.IntegrationDeleted) -> None:
    """Only deletion is a webhook event; disabling and enabling reach resource services through the feed."""
    integration = event.integration
    queue(
        catalogue.INTEGRATION_DELETED,
        account_id=integration.account_id,
        integration_id=integration.id,
        now=event.now,
        data=_integration(integration) | {"name": integration.name, "deleted_at": isoformat(event.now)},
    )


def _token_rotated(event: de.TokenRotated | de.TokenRotatedWithGrace, old_tokens_end: datetime) -> None:
    """``old_tokens_end`` is now (rotate now) or the grace deadline (rotate with grace)."""
    _to(
        event.token,
        catalogue.TOKEN_ROTATED,
        event.now,
        {
            "previous_token_ids": [p.jti for p in event.previous],
            "previous_tokens_end_at": isoformat(old_tokens_end),
            "grace": old_tokens_end > event.now,
        },
    )


def _tokens_expired(
    rows: tuple[AccessToken, ...], now: datetime, reason: str, ended_at: datetime | None = None
) -> None:
    """One event per token that stopped before its exp (by an admin, or idle: ``ended_at`` is when its window
    ended). A token whose scheduled end had already passed was announced by the scan (TokenEnded) when it ended,
    so it is skipped here."""
    for row in rows:
        if row.ends_at is not None and row.ends_at <= now:
            continue
        _to(row, catalogue.TOKEN_EXPIRED, now, {"reason": reason, "ended_at": isoformat(ended_at or now)})


def _token_ended(event: de.TokenEnded) -> None:
    row = event.token
    assert row.ends_at is not None
    _to(
        row,
        catalogue.TOKEN_EXPIRED,
        event.now,
        {"reason": "grace_ended" if row.replaced_by else "scheduled_end", "ended_at": isoformat(row.ends_at)},
        dedup_key=event.dedup_key,
    )


def _token_leaked(event: de.TokenLeaked) -> None:
    """Only a revocation is news: a report about a token already dead is on the audit trail alone."""
    if event.revoked:
        leak = {"url": event.url, "source": event.source, "token_type": event.token_type}
        revoked = {"reason": event.token.revocation_reason, "revoked_at": isoformat(event.token.revoked_at)}
        _to(event.token, catalogue.TOKEN_LEAKED, event.now, revoked | {"leak": leak})


_PROJECTIONS: dict[type, Callable] = {
    de.IntegrationCreated: _integration_created,
    de.IntegrationScopesChanged: lambda e: _scopes_changed(e.integration, e.before["scopes"], e.after["scopes"], e.now),
    de.IntegrationScopesNarrowedByAccount: lambda e: _scopes_changed(
        e.integration, e.scopes_before, e.scopes_after, e.now
    ),
    de.IntegrationDeleted: _integration_deleted,
    de.TokenGenerated: lambda e: _to(e.token, catalogue.TOKEN_GENERATED, e.now, {}),
    de.TokenRotated: lambda e: _token_rotated(e, e.now),
    de.TokenRotatedWithGrace: lambda e: _token_rotated(e, e.ending[0].ends_at),
    de.TokenExpired: lambda e: _tokens_expired(e.stopped, e.now, "expired_by_admin"),
    de.TokenExpiredInactive: lambda e: _tokens_expired(e.stopped, e.now, "inactive", e.ended_at),
    de.TokenRevoked: lambda e: _to(
        e.token,
        catalogue.TOKEN_REVOKED,
        e.now,
        {"reason": e.token.revocation_reason, "revoked_at": isoformat(e.token.revoked_at)},
    ),
    de.TokenLeaked: _token_leaked,
    de.TokenExpiring: lambda e: _to(
        e.token,
        catalogue.TOKEN_EXPIRING,
        e.now,
        {"reason": e.reason, "ends_at": isoformat(e.deadline)},
        dedup_key=e.dedup_key,
    ),
    de.TokenEnded: _token_ended,
    de.ServiceEventPublished: _service_event,
}
PROJECTED = frozenset(_PROJECTIONS)  # checked against domain_events' WEBHOOKS declarations by a unit test


def expiring_key(jti: str, reason: str, deadline: datetime) -> str:
    return f"token.expiring:{jti}:{reason}:{int(deadline.timestamp())}"


def ended_key(jti: str) -> str:
    return f"token.expired:{jti}"


def is_emitted(dedup_key: str) -> bool:
    return db.session.scalar(select(WebhookEvent.id).where(WebhookEvent.dedup_key == dedup_key)) is not None
