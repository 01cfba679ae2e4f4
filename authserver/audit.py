"""The append-only audit log: every change, who made it, when, from where, before and after.

Rows are written by ``project`` for each domain event that declares an ``AUDIT`` action (domain_events); nothing
else writes them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from . import domain_events as de
from .domain_events import DomainEvent
from .durations import isoformat
from .extensions import db
from .models import AccessToken, AuditEvent
from .principals import Principal


def project(event: DomainEvent) -> None:
    """The audit row of ``event``, named by its ``AUDIT`` action, in the transaction of the change."""
    action = event.AUDIT
    if action is None:
        return
    if isinstance(event, de.Refusal):
        _record_refused(event, action)
        return
    account_id, target_type, target_id, before, after = _ENTRIES[type(event)](event)
    _record(
        event.actor,
        action,
        now=event.now,
        account_id=account_id,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
    )


def _record(
    principal: Principal,
    action: str,
    *,
    now: datetime,
    account_id: str | None,
    target_type: str | None,
    target_id: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit row to the current transaction, so it commits or rolls back with the change."""
    row = AuditEvent(
        account_id=account_id,
        occurred_at=now,
        actor_type=principal.kind,
        actor_id=principal.id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        source_address=principal.source_address,
        before=before,
        after=after,
    )
    db.session.add(row)
    return row


def _record_refused(event: de.Refusal, action: str) -> None:
    """A refused attempt on something that is not the caller's: on the caller's own account (no account for a
    caller without one; the operator sees it). Never on the account it reached for, which neither the caller can
    write into nor another tenant's client id and address show up in; and the row names no other account."""
    _record(
        event.actor,
        action,
        now=event.now,
        account_id=event.actor.account_id,
        target_type=event.target_type,
        target_id=event.target_id,
        after={"reason": event.reason},
    )


def _tokens(rows: Iterable[AccessToken]) -> dict[str, Any]:
    return {"tokens": [row.jti for row in rows]}


# What each audited event records: (account_id, target_type, target_id, before, after).
_ENTRIES: dict[type[DomainEvent], Callable[..., tuple[Any, ...]]] = {
    de.IntegrationCreated: lambda e: (e.integration.account_id, "integration", e.integration.id, None, e.after),
    de.IntegrationUpdated: lambda e: (e.integration.account_id, "integration", e.integration.id, e.before, e.after),
    de.IntegrationScopesChanged: lambda e: (
        e.integration.account_id,
        "integration",
        e.integration.id,
        e.before,
        e.after,
    ),
    de.IntegrationScopesNarrowedByAccount: lambda e: (
        e.integration.account_id,
        "integration",
        e.integration.id,
        {"scopes": e.scopes_before},
        {"scopes": e.scopes_after},
    ),
    de.IntegrationDisabled: lambda e: (e.integration.account_id, "integration", e.integration.id, e.before, e.after),
    de.IntegrationEnabled: lambda e: (e.integration.account_id, "integration", e.integration.id, e.before, e.after),
    de.IntegrationDeleted: lambda e: (e.integration.account_id, "integration", e.integration.id, e.before, e.after),
    de.TokenGenerated: lambda e: (e.integration.account_id, "integration", e.integration.id, None, e.after),
    de.TokenRotated: lambda e: (
        e.integration.account_id,
        "integration",
        e.integration.id,
        _tokens(e.previous),
        e.after,
    ),
    de.TokenRotatedWithGrace: lambda e: (
        e.integration.account_id,
        "integration",
        e.integration.id,
        _tokens(e.previous),
        e.after,
    ),
    de.TokenExpired: lambda e: (
        e.integration.account_id,
        "integration",
        e.integration.id,
        _tokens(e.stopped),
        {"ended_at": isoformat(e.now)},
    ),
    de.TokenExpiryScheduled: lambda e: (e.integration.account_id, "integration", e.integration.id, e.before, e.after),
    de.TokenRevoked: lambda e: (e.token.account_id, "token", e.token.jti, e.before, e.after),
    de.TokenLeaked: lambda e: (
        e.token.account_id,
        "integration",
        e.token.integration_id,
        None,
        {"token": e.token.jti, "revoked": e.revoked, "url": e.url, "source": e.source, "token_type": e.token_type},
    ),
    de.TokenExpiredInactive: lambda e: (
        e.token.account_id,
        "token",
        e.token.jti,
        None,
        {"last_used_at": isoformat(e.token.last_used_at), "window": e.window, "ended_at": isoformat(e.ended_at)},
    ),
    de.TokenGraceEnded: lambda e: (
        e.token.account_id,
        "integration",
        e.integration_id,
        None,
        {"token": e.token.jti, "ended_at": isoformat(e.token.ends_at), "replaced_by": e.token.replaced_by},
    ),
    de.SigningKeyRevoked: lambda e: (None, "signing_key", e.kid, e.before, e.after),
    de.AccountCreated: lambda e: (e.account_id, "account", e.account_id, None, e.after),
    de.AccountUpdated: lambda e: (e.account_id, "account", e.account_id, e.before, e.after),
    de.UserAdded: lambda e: (e.account_id, "user", e.user_id, None, {"email": e.email, "role": e.role}),
    de.PasswordChanged: lambda e: (None, "user", e.user_id, None, None),
    **{
        cls: (lambda e: (e.account_id, "client", e.client_id, e.before, e.after))
        for cls in (
            de.ClientCreated,
            de.ClientSecretRotated,
            de.ClientDisabled,
            de.ClientEnabled,
            de.ClientLimitChanged,
            de.ClientPingUrlChanged,
            de.ClientIntrospectionSigningChanged,
            de.ClientDeleted,
        )
    },
    de.WebhookSubscribed: lambda e: (e.account_id, "webhook", e.subscription_id, None, e.after),
    de.WebhookDeleted: lambda e: (e.account_id, "webhook", e.subscription_id, e.before, None),
    de.WebhookRedeliveryRequested: lambda e: (e.account_id, "webhook_delivery", e.delivery_id, e.before, None),
    de.WebhookSigningKeyRotated: lambda e: (None, "webhook_signing_key", e.kid, e.before, e.after),
    de.RetentionPruned: lambda e: (None, "retention", None, None, e.counts),
    de.IssuerRecorded: lambda e: (None, "instance", "issuer", None, {"issuer": e.issuer}),
    de.IssuerChanged: lambda e: (None, "instance", "issuer", {"issuer": e.before}, {"issuer": e.after}),
    **{
        cls: (lambda e: (e.account_id, "v1_key", e.key_id, e.before, e.after))
        for cls in (de.V1KeyCreated, de.V1KeyMigrated, de.V1KeyMigrationRolledBack)
    },
}
PROJECTED = frozenset(_ENTRIES)  # with every Refusal: checked against the AUDIT declarations by a unit test


def list_events(
    account_ids: list[str],
    *,
    action: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    before_id: int | None = None,
) -> list[AuditEvent]:
    """Newest first, filtered; ``before_id`` pages backwards."""
    query = select(AuditEvent).where(AuditEvent.account_id.in_(account_ids))
    if action:
        query = query.where(AuditEvent.action == action)
    if target_id:
        query = query.where(AuditEvent.target_id == target_id)
    if since:
        query = query.where(AuditEvent.occurred_at >= since)
    if until:
        query = query.where(AuditEvent.occurred_at < until)
    if before_id:
        query = query.where(AuditEvent.id < before_id)
    query = query.order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 1000)))
    return list(db.session.scalars(query))


def serialize(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "account_id": row.account_id,
        "occurred_at": isoformat(row.occurred_at),
        "actor": {"type": row.actor_type, "id": row.actor_id},
        "action": row.action,
        "target": {"type": row.target_type, "id": row.target_id},
        "source_address": row.source_address,
        "before": row.before,
        "after": row.after,
    }


CSV_COLUMNS = [
    "id",
    "occurred_at",
    "account_id",
    "actor_type",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "source_address",
    "before",
    "after",
]


def to_csv(rows: list[AuditEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.id,
                isoformat(row.occurred_at),
                row.account_id,
                row.actor_type,
                row.actor_id,
                row.action,
                row.target_type,
                row.target_id,
                row.source_address,
                json.dumps(row.before, sort_keys=True) if row.before is not None else "",
                json.dumps(row.after, sort_keys=True) if row.after is not None else "",
            ]
        )
    return out.getvalue()


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    """Audit rows are history: the ORM refuses to update or delete them."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEvent):
            raise RuntimeError("audit events are append-only")


@event.listens_for(Session, "do_orm_execute")
def _refuse_audit_rewrites(state: ORMExecuteState) -> None:
    """...and bulk ``update(AuditEvent)`` / ``delete(AuditEvent)`` statements, which never pass through a flush."""
    if (state.is_update or state.is_delete) and any(mapper.class_ is AuditEvent for mapper in state.all_mappers):
        raise RuntimeError("audit events are append-only")
