"""Migrate one v1 key: a private integration with exactly the scopes the key was seen to need, its v2 token
(shown once), and the v1 key scheduled to stop after an overlap. Until the overlap ends the admin can roll back:
the integration is deleted (its token revoked) and the v1 key keeps working with no end date.

The integration and token come from the lifecycle verbs, which only flush: the caller's unit of work commits the
integration, its token, the claimed v1 key and every event together, or rolls all of it back, so a failed
migration leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, update

from .. import domain_events as de
from .. import integrations
from ..durations import isoformat
from ..emitter import emit
from ..errors import ConflictError, InvalidInputError
from ..extensions import db
from ..models import Integration, V1ApiKey
from ..principals import Principal
from ..token_policy import TokenPolicy
from .keys import get_key_for, key_status, serialize_key
from .report import needs_of

DEFAULT_OVERLAP = 14 * 86400
MIN_OVERLAP, MAX_OVERLAP = 3600, 180 * 86400


@dataclass(frozen=True)
class Migration:
    key: V1ApiKey
    integration: Integration
    issued: integrations.IssuedToken


def migrate_key(
    principal: Principal, key_id: str, *, overlap: int | None, now: datetime, policy: TokenPolicy
) -> Migration:
    overlap = DEFAULT_OVERLAP if overlap is None else overlap
    if not isinstance(overlap, int) or not MIN_OVERLAP <= overlap <= MAX_OVERLAP:
        raise InvalidInputError("the overlap must be between 1 hour and 180 days", field="overlap")
    key = get_key_for(principal, key_id, write=True)
    if key_status(key, now) != "active":
        raise ConflictError(f"this v1 key is {key_status(key, now)}; only an active key can be migrated")
    needs = needs_of(key.id)
    if needs.unmapped_routes:
        raise ConflictError("this key called v1 routes with no v2 equivalent: " + ", ".join(needs.unmapped_routes[:5]))
    if not needs.scopes:
        raise ConflictError("this key was never seen calling a v1 route, so there are no scopes to migrate to")
    integration = integrations.create_integration(
        principal,
        account_id=key.account_id,
        name=f"{key.name} (from v1 key)"[:200],
        description=f"Migrated from v1 key {key.id} ({key.key_prefix}...)",
        scopes=sorted(needs.scopes),
        now=now,
    )
    issued = integrations.generate_token(principal, integration.id, policy=policy, now=now)
    claimed = cast(
        CursorResult[Any],
        db.session.execute(
            update(V1ApiKey)
            .where(  # only if nobody migrated it meanwhile
                V1ApiKey.id == key_id,
                V1ApiKey.stops_at.is_(None),
                V1ApiKey.revoked_at.is_(None),
            )
            .values(stops_at=now + timedelta(seconds=overlap), migrated_integration_id=integration.id, migrated_at=now)
        ),
    )
    if claimed.rowcount != 1:
        raise ConflictError("this v1 key was migrated by someone else at the same time")
    emit(
        de.V1KeyMigrated(
            actor=principal,
            now=now,
            account_id=key.account_id,
            key_id=key.id,
            after=serialize_key(key, now) | {"scopes": sorted(needs.scopes)},
        )
    )
    db.session.flush()
    return Migration(key=key, integration=integration, issued=issued)


def rollback_migration(principal: Principal, key_id: str, *, now: datetime) -> V1ApiKey:
    """Undo a migration while the overlap lasts: the v1 key works on with no end, the integration is deleted."""
    key = get_key_for(principal, key_id, write=True)
    if key.migrated_integration_id is None or key.stops_at is None:
        raise ConflictError("this v1 key has no migration to roll back")
    if now >= key.stops_at:
        raise ConflictError(
            f"the overlap ended at {isoformat(key.stops_at)}; the migration can no longer be rolled back"
        )
    integration_id = key.migrated_integration_id
    before = serialize_key(key, now)
    key.stops_at = key.migrated_integration_id = key.migrated_at = None
    emit(
        de.V1KeyMigrationRolledBack(
            actor=principal,
            now=now,
            account_id=key.account_id,
            key_id=key.id,
            before=before,
            after=serialize_key(key, now),
        )
    )
    integration = db.session.get(Integration, integration_id)
    if integration is not None and integration.status != "deleted":
        integrations.set_status(principal, integration_id, "deleted", now=now)
    db.session.flush()
    return key
