"""Who receives which events: subscriptions of an account, of one integration, or of a resource service.

Accounts and integrations are managed by their admins; a resource service's subscription (revocation events
only, the transport for fast revocation) is registered by the operator. Data events (contact.created, ...) go only
to a subscription of one integration that holds the event's read scope (catalogue.DATA_EVENTS).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from .. import domain_events as de
from ..accounts import clean_name, get_account_for
from ..clients import find_client
from ..durations import isoformat
from ..emitter import emit
from ..errors import ForbiddenError, InvalidInputError, NotFoundError
from ..extensions import db
from ..integrations import get_integration_for
from ..models import Integration, WebhookDelivery, WebhookSubscription
from ..principals import Principal
from ..scopes import split_scopes
from ..security import new_id
from . import catalogue
from .destinations import DestinationPolicy, resolve
from .signing import SIGNING_SCHEMES, WebhookKeys, new_hmac_secret


def create_subscription(
    principal: Principal,
    *,
    url: object,
    now: datetime,
    policy: DestinationPolicy,
    keys: WebhookKeys,
    account_id: str | None = None,
    integration_id: str | None = None,
    client_id: str | None = None,
    events: object = None,
    signing: object = "ed25519",
    description: object = None,
) -> tuple[WebhookSubscription, str | None]:
    """Subscribe a URL. Returns the subscription and, for ``signing="hmac"``, its secret (shown once)."""
    allowed = frozenset(catalogue.EVENT_TYPES)
    integration: Integration | None = None
    if client_id is not None:
        if account_id is not None or integration_id is not None:
            raise InvalidInputError("a resource service subscribes for itself, not for an account", field="client_id")
        if not principal.is_operator:
            raise ForbiddenError("only the operator registers resource service subscriptions")
        client = find_client(client_id)
        if client is None or client.kind != "resource-service":
            raise NotFoundError(f"resource service {client_id!r} not found")
        account_id, allowed = client.account_id, catalogue.REVOCATION_EVENTS
    elif integration_id is not None:
        integration = get_integration_for(principal, integration_id, write=True)
        if account_id is not None and account_id != integration.account_id:
            raise NotFoundError(f"integration {integration_id!r} not found")
        account_id = integration.account_id
    elif account_id is not None:
        get_account_for(principal, account_id, write=True)
        allowed = frozenset(catalogue.LIFECYCLE_EVENT_TYPES)
    else:
        raise InvalidInputError("say whose events: an account, an integration or a resource service")
    if signing not in SIGNING_SCHEMES:
        raise InvalidInputError("signing must be ed25519 or hmac", field="signing")
    types = catalogue.parse_event_types(events, allowed=allowed | catalogue.DATA_EVENT_TYPES)
    _check_data_events(types, client_id, integration)
    destination = resolve(url, policy)
    description = "" if description is None else clean_name(description, field="description")
    secret = new_hmac_secret() if signing == "hmac" else None
    subscription = WebhookSubscription(
        id=new_id("whk"),
        account_id=account_id,
        integration_id=integration_id,
        client_id=client_id,
        url=destination.url.geturl(),
        event_types=" ".join(sorted(types)),
        signing=signing,
        sealed_secret=keys.seal(secret) if secret else None,
        description=description,
        status="active",
        created_by=f"{principal.kind}:{principal.id}",
        created_at=now,
        updated_at=now,
    )
    db.session.add(subscription)
    emit(
        de.WebhookSubscribed(
            actor=principal,
            now=now,
            account_id=account_id,
            subscription_id=subscription.id,
            after=serialize_subscription(subscription),
        )
    )
    db.session.flush()
    return subscription, secret


def _check_data_events(types: frozenset[str], client_id: str | None, integration: Integration | None) -> None:
    """Data events need a subscription of one integration that holds their read scope (checked again at each
    delivery: narrowing the scope later stops them at once)."""
    data = sorted(types & catalogue.DATA_EVENT_TYPES)
    if not data:
        return
    if client_id is not None:
        raise InvalidInputError(f"not available to this subscriber: {', '.join(data)}", field="events")
    if integration is None:
        raise InvalidInputError(
            f"data events go to one integration's subscription (choose an integration): {', '.join(data)}",
            field="events",
        )
    held = split_scopes(integration.scopes)
    missing = sorted({catalogue.DATA_EVENTS[name][0] for name in data} - held)
    if missing:
        raise InvalidInputError(
            f"the integration does not hold {', '.join(missing)}, which these events need", field="events"
        )


def get_subscription_for(principal: Principal, subscription_id: str, *, write: bool = False) -> WebhookSubscription:
    """The subscription if the principal may see it (or change it); anything else is simply not found."""
    row = db.session.get(WebhookSubscription, subscription_id) if isinstance(subscription_id, str) else None
    if row is None or row.status == "deleted":
        raise NotFoundError(f"webhook {subscription_id!r} not found")
    if row.client_id is not None or row.account_id is None:
        if not principal.is_operator:
            raise NotFoundError(f"webhook {subscription_id!r} not found")
    elif not principal.can_view(row.account_id):
        raise NotFoundError(f"webhook {subscription_id!r} not found")
    elif write:
        get_account_for(principal, row.account_id, write=True)
    return row


def list_subscriptions(principal: Principal, account_id: str | None) -> list[WebhookSubscription]:
    """An account's subscriptions (its integrations' included); without an account, every one (operator)."""
    query = select(WebhookSubscription).where(WebhookSubscription.status != "deleted")
    if account_id is None:
        if not principal.is_operator:
            raise ForbiddenError("only the operator lists every subscription")
    else:
        get_account_for(principal, account_id)
        query = query.where(WebhookSubscription.account_id == account_id, WebhookSubscription.client_id.is_(None))
    return list(db.session.scalars(query.order_by(WebhookSubscription.created_at, WebhookSubscription.id)))


def delete_subscription(principal: Principal, subscription_id: str, *, now: datetime) -> WebhookSubscription:
    """Stop sending: the subscription is kept (deleted) for the audit trail; its pending deliveries are cancelled."""
    row = get_subscription_for(principal, subscription_id, write=True)
    before = serialize_subscription(row)
    row.status, row.updated_at = "deleted", now
    db.session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == row.id,
            WebhookDelivery.status == "pending",
        )
        .values(status="cancelled", next_attempt_at=None)
    )
    emit(de.WebhookDeleted(actor=principal, now=now, account_id=row.account_id, subscription_id=row.id, before=before))
    db.session.flush()
    return row


def serialize_subscription(row: WebhookSubscription) -> dict:
    """Never includes the secret."""
    owner = "resource_service" if row.client_id else "integration" if row.integration_id else "account"
    return {
        "id": row.id,
        "owner": owner,
        "account_id": row.account_id,
        "integration_id": row.integration_id,
        "client_id": row.client_id,
        "url": row.url,
        "events": row.event_types.split(),
        "signing": row.signing,
        "description": row.description,
        "status": row.status,
        "disabled_reason": row.disabled_reason,
        "created_by": row.created_by,
        "created_at": isoformat(row.created_at),
    }
