"""The feed: what resource services must honour within a second, projected from domain events (domain_events).

Each feed row is written in the same transaction as the change that caused it (``project``, run by ``emit``), so a
change and its rows commit together or not at all. Services follow the feed (``/oauth/events``) and drop or update
cache entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import func, or_, select

from .domain_events import (
    FEED_INTEGRATION_CHANGED,
    FEED_KEY_REVOKED,
    FEED_TOKEN_ENDS,
    FEED_TOKEN_REVOKED,
    DomainEvent,
)
from .durations import isoformat
from .extensions import db
from .models import AccessToken, Integration, SigningKey, TokenEvent

TOKEN_REVOKED = FEED_TOKEN_REVOKED
TOKEN_ENDS = FEED_TOKEN_ENDS
INTEGRATION_CHANGED = FEED_INTEGRATION_CHANGED
KEY_REVOKED = FEED_KEY_REVOKED


class _StopsTokens(Protocol):
    stopped: Sequence[AccessToken]


class _EndsTokens(Protocol):
    ending: Sequence[AccessToken]


class _ChangesIntegration(Protocol):
    integration: Integration


class _RevokesKey(Protocol):
    kid: str


def project(event: DomainEvent) -> None:
    """Write the feed rows ``event`` declares (``FEED``): one per token it stopped, one per token it gave an end,
    then the integration's new state, or the revoked key. A ``FEED`` row type promises the field it reads."""
    if TOKEN_REVOKED in event.FEED:
        for row in cast(_StopsTokens, event).stopped:
            _token_revoked(row, event.now)
    if TOKEN_ENDS in event.FEED:
        for row in cast(_EndsTokens, event).ending:
            _token_ends(row, event.now)
    if INTEGRATION_CHANGED in event.FEED:
        _integration_changed(cast(_ChangesIntegration, event).integration, event.now)
    if KEY_REVOKED in event.FEED:
        _key_revoked(cast(_RevokesKey, event).kid, event.now)


def _token_revoked(row: AccessToken, now: datetime) -> None:
    db.session.add(
        TokenEvent(
            occurred_at=now,
            type=TOKEN_REVOKED,
            account_id=row.account_id,
            integration_id=row.integration_id,
            jti=row.jti,
            data={"exp": int(row.expires_at.timestamp()), "reason": row.revocation_reason},
        )
    )


def _token_ends(row: AccessToken, now: datetime) -> None:
    db.session.add(
        TokenEvent(
            occurred_at=now,
            type=TOKEN_ENDS,
            account_id=row.account_id,
            integration_id=row.integration_id,
            jti=row.jti,
            data={
                "ends_at": int(row.ends_at.timestamp()) if row.ends_at else None,
                "exp": int(row.expires_at.timestamp()),
            },
        )
    )


def _integration_changed(integration: Integration, now: datetime) -> None:
    db.session.add(
        TokenEvent(
            occurred_at=now,
            type=INTEGRATION_CHANGED,
            account_id=integration.account_id,
            integration_id=integration.id,
            jti=None,
            data={"scopes": integration.scopes.split(), "status": integration.status},
        )
    )


def _key_revoked(kid: str, now: datetime) -> None:
    """Every token ``kid`` signed is inactive: services validating locally drop the key. About every account, so
    every service hears it (account_id NULL)."""
    db.session.add(
        TokenEvent(occurred_at=now, type=KEY_REVOKED, account_id=None, integration_id=None, jti=None, data={"kid": kid})
    )


def serialize(event: TokenEvent) -> dict[str, Any]:
    body = {
        "id": event.id,
        "type": event.type,
        "occurred_at": isoformat(event.occurred_at),
        "account_id": event.account_id,
        "integration_id": event.integration_id,
    }
    if event.jti:
        body["jti"] = event.jti
    body.update(event.data or {})
    return body


def events_after(cursor: int, *, account_id: str | None = None, limit: int = 500) -> list[TokenEvent]:
    query = select(TokenEvent).where(TokenEvent.id > cursor)
    if account_id is not None:
        query = query.where(or_(TokenEvent.account_id == account_id, TokenEvent.account_id.is_(None)))
    return list(db.session.scalars(query.order_by(TokenEvent.id).limit(limit)))


def latest_cursor() -> int:
    return db.session.scalar(select(func.max(TokenEvent.id))) or 0


def is_cursor_expired(cursor: int) -> bool:
    """Were rows after ``cursor`` pruned (retention.py)? Every cursor handed out is the id of a row, and pruning
    keeps the newest row, so a cursor below the oldest row left names a row that is gone, maybe with others."""
    oldest = db.session.scalar(select(func.min(TokenEvent.id)))
    return cursor > 0 and oldest is not None and cursor < oldest


def snapshot(now: datetime, *, account_id: str | None = None) -> dict[str, Any]:
    """What a service starting cold must know to validate locally: tokens revoked or scheduled to end before
    their exp, and integrations that are not plainly active with their scopes."""
    cursor = latest_cursor()
    tokens = (
        select(AccessToken)
        .where(AccessToken.expires_at > now)
        .where((AccessToken.revoked_at.is_not(None)) | (AccessToken.ends_at.is_not(None)))
    )
    integrations = select(Integration)
    if account_id is not None:
        tokens = tokens.where(AccessToken.account_id == account_id)
        integrations = integrations.where(Integration.account_id == account_id)
    revoked, ending = [], []
    for row in db.session.scalars(tokens):
        if row.revoked_at is not None:
            revoked.append({"jti": row.jti, "exp": int(row.expires_at.timestamp())})
        elif row.ends_at is not None:  # always, by the query: revoked or given an end
            ending.append(
                {"jti": row.jti, "ends_at": int(row.ends_at.timestamp()), "exp": int(row.expires_at.timestamp())}
            )
    return {
        "cursor": cursor,
        "revoked": revoked,
        "ending": ending,
        # Keys whose every token is inactive, whatever the JWKS a service has cached says.
        "revoked_keys": list(
            db.session.scalars(
                select(SigningKey.kid).where(SigningKey.revoked_at.is_not(None)).order_by(SigningKey.kid)
            )
        ),
        "integrations": [
            {"integration_id": i.id, "account_id": i.account_id, "scopes": i.scopes.split(), "status": i.status}
            for i in db.session.scalars(integrations)
        ],
    }
