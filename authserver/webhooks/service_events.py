"""Data events published by v2 services (``POST /api/service-events``): read strictly, check the service may speak
for the account, recognise a retry, and hand the event to the outbox (``ServiceEventPublished``) in the caller's
transaction. Who receives it, and when it is stopped, is the outbox's and the worker's business (catalogue.py).

A resource-service client *bound to an account* publishes for that account and its sub-accounts. An unbound one
(a service of every account) is refused: it could otherwise put any tenant's name on data, and nothing on the
server says which accounts it really holds data for. Binding is one flag at ``authserver client create``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import domain_events as de
from ..accounts import descendants
from ..durations import parse_instant
from ..emitter import emit
from ..errors import ConflictError, ForbiddenError, InvalidInputError
from ..extensions import db
from ..models import WebhookEvent
from ..principals import Principal
from ..security import is_identifier, new_id
from . import catalogue

MAX_BODY_BYTES = 64 * 1024  # the whole request; larger is a 413 before it is parsed
MAX_DATA_BYTES = 16 * 1024  # the event's ``data`` as compact JSON: a record, not a document store
MAX_FUTURE = timedelta(minutes=5)  # clock skew a service may have; further ahead is a mistake
FIELDS = frozenset({"type", "account_id", "id", "occurred_at", "data"})
_EVENT_ID = re.compile(r"[A-Za-z0-9._:\-]{1,100}")


@dataclass(frozen=True)
class ServiceEvent:
    id: str  # the service's idempotency key
    type: str
    account_id: str
    occurred_at: datetime
    data: dict


@dataclass(frozen=True)
class Publisher:
    """The authenticated resource-service client: its id and the account it is bound to (None: unbound)."""

    client_id: str
    account_id: str | None


def parse_service_event(body: object, now: datetime) -> ServiceEvent:
    """``{"type", "account_id", "id", "occurred_at"?, "data"}``; anything else, or a wrong shape, is an error naming
    the field."""
    if not isinstance(body, dict):
        raise InvalidInputError("the request body must be a JSON object")
    unknown = sorted(str(name)[:40] for name in body if name not in FIELDS)
    if unknown:
        raise InvalidInputError(f"unknown field: {', '.join(unknown[:5])}", field=unknown[0])
    kind = body.get("type")
    if not isinstance(kind, str) or kind not in catalogue.DATA_EVENTS:
        shown = kind[:40] if isinstance(kind, str) else kind
        raise InvalidInputError(
            f"unknown event type {shown!r}; one of: {', '.join(sorted(catalogue.DATA_EVENTS))}", field="type"
        )
    event_id = body.get("id")
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise InvalidInputError("id must be 1-100 characters of letters, digits and . _ : -", field="id")
    account_id = body.get("account_id")
    if not is_identifier(account_id):
        raise InvalidInputError("account_id must be an account id", field="account_id")
    assert isinstance(account_id, str)  # is_identifier
    occurred_at = now
    if body.get("occurred_at") is not None:
        occurred_at = parse_instant(body["occurred_at"], field="occurred_at")
        if occurred_at > now + MAX_FUTURE:
            raise InvalidInputError("occurred_at is in the future", field="occurred_at")
    data = body.get("data")
    if not isinstance(data, dict):
        raise InvalidInputError("data must be a JSON object (the record the event is about)", field="data")
    if len(json.dumps(data, separators=(",", ":"))) > MAX_DATA_BYTES:
        raise InvalidInputError(f"data must be at most {MAX_DATA_BYTES} bytes as JSON", field="data")
    return ServiceEvent(event_id, kind, account_id, occurred_at, data)


def publish_service_event(publisher: Publisher, event: ServiceEvent, *, now: datetime) -> tuple[str, bool]:
    """Queue ``event`` for delivery; returns its webhook-id and whether it was a retry of one already accepted
    (same service, same id): a retry is answered with the first id and delivers nothing again."""
    if publisher.account_id is None:
        raise ForbiddenError(
            "only a resource service bound to an account publishes events; this one serves every account"
        )
    if event.account_id not in descendants({publisher.account_id}):
        # The same answer for an account that does not exist: a service learns nothing about other tenants.
        raise ForbiddenError("this service publishes only for its own account and its sub-accounts")
    key = dedup_key(publisher.client_id, event.id)
    earlier = db.session.scalar(select(WebhookEvent).where(WebhookEvent.dedup_key == key))
    if earlier is not None:
        if not _is_same(earlier, event):
            raise ConflictError(f"id {event.id!r} was already used for a different event")
        return earlier.id, True
    message_id = new_id("msg")
    emit(
        de.ServiceEventPublished(
            actor=Principal(kind="resource_service", id=publisher.client_id, account_id=publisher.account_id),
            now=now,
            message_id=message_id,
            event_type=event.type,
            account_id=event.account_id,
            client_id=publisher.client_id,
            dedup_key=key,
            occurred_at=min(event.occurred_at, now),
            data=event.data,
        )
    )
    try:
        db.session.flush()
    except IntegrityError:  # the same id published twice at once: the other request took it
        raise ConflictError(f"id {event.id!r} is being published by another request; retry") from None
    return message_id, False


def dedup_key(client_id: str, event_id: str) -> str:
    return f"service:{client_id}:{event_id}"


def _is_same(earlier: WebhookEvent, event: ServiceEvent) -> bool:
    body = json.loads(earlier.body)
    return (
        earlier.type == event.type and earlier.account_id == event.account_id and body["data"]["object"] == event.data
    )
