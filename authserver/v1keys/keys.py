"""v1 API keys: unscoped, full access to their account. Only a SHA-256 digest is stored; a resource service
checks a key here and says which v1 route it was used on, which is what the migration report is made of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .. import domain_events as de
from ..accounts import clean_name, get_account_for
from ..durations import isoformat
from ..emitter import emit
from ..errors import NotFoundError
from ..extensions import db
from ..models import V1ApiKey, V1KeyUsage
from ..principals import Principal
from ..security import new_id, new_secret, secret_digest

KEY_PREFIX = "v1_"


@dataclass(frozen=True)
class KeyCheck:
    """What a resource service learns about a presented v1 key."""

    key: V1ApiKey
    stops_at: datetime | None


def create_key(principal: Principal, *, account_id: str, name: str, now: datetime) -> tuple[V1ApiKey, str]:
    """A legacy key (for demos and tests of the migration); the key is returned once."""
    account = get_account_for(principal, account_id, write=True)
    secret = KEY_PREFIX + new_secret()
    row = V1ApiKey(
        id=new_id("v1k"),
        account_id=account.id,
        name=clean_name(name),
        key_digest=secret_digest(secret),
        key_prefix=secret[:10],
        created_at=now,
    )
    db.session.add(row)
    emit(
        de.V1KeyCreated(
            actor=principal,
            now=now,
            account_id=account.id,
            key_id=row.id,
            after={"name": row.name, "key_prefix": row.key_prefix},
        )
    )
    db.session.flush()
    return row, secret


def key_status(row: V1ApiKey, now: datetime) -> str:
    """active | migrating (works until ``stops_at``) | retired (the overlap ended) | revoked."""
    if row.revoked_at is not None:
        return "revoked"
    if row.stops_at is not None:
        return "migrating" if now < row.stops_at else "retired"
    return "active"


def is_usable(row: V1ApiKey, now: datetime) -> bool:
    return key_status(row, now) in ("active", "migrating")


def check_key(
    presented: object, route: str, *, now: datetime, checked_by: str, account_id: str | None = None
) -> KeyCheck | None:
    """Look the key up by digest and record the use on ``route``; None for anything not usable right now.

    ``account_id`` confines a resource service bound to one account to that account's keys."""
    if not isinstance(presented, str) or not presented.startswith(KEY_PREFIX) or len(presented) > 200:
        return None
    row = db.session.scalar(select(V1ApiKey).where(V1ApiKey.key_digest == secret_digest(presented)))
    if row is None or not is_usable(row, now) or (account_id is not None and row.account_id != account_id):
        return None
    _record_use(row, route, now, checked_by)
    return KeyCheck(key=row, stops_at=row.stops_at)


def _record_use(row: V1ApiKey, route: str, now: datetime, checked_by: str) -> None:
    """v1 traffic is legacy and small: one row per (key, route), upserted so concurrent first uses never clash."""
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    statement = insert(V1KeyUsage).values(
        key_id=row.id, route=route, count=1, first_used_at=now, last_used_at=now, last_used_by=checked_by
    )
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["key_id", "route"],
            set_={
                "count": V1KeyUsage.count + 1,
                "last_used_by": checked_by,
                "last_used_at": case((V1KeyUsage.last_used_at > now, V1KeyUsage.last_used_at), else_=now),
            },
        )
    )
    db.session.execute(
        update(V1ApiKey)
        .where(V1ApiKey.id == row.id)
        .values(last_used_at=case((V1ApiKey.last_used_at > now, V1ApiKey.last_used_at), else_=now))
    )
    db.session.commit()


def get_key_for(principal: Principal, key_id: str, *, write: bool = False) -> V1ApiKey:
    row = db.session.get(V1ApiKey, key_id) if isinstance(key_id, str) else None
    if row is None or not principal.can_view(row.account_id):
        raise NotFoundError(f"v1 key {key_id!r} not found")
    if write:
        get_account_for(principal, row.account_id, write=True)
    return row


def list_keys(principal: Principal, account_id: str) -> list[V1ApiKey]:
    get_account_for(principal, account_id)
    return list(
        db.session.scalars(
            select(V1ApiKey).where(V1ApiKey.account_id == account_id).order_by(V1ApiKey.created_at, V1ApiKey.id)
        )
    )


def usage_of(key_id: str) -> list[V1KeyUsage]:
    return list(db.session.scalars(select(V1KeyUsage).where(V1KeyUsage.key_id == key_id).order_by(V1KeyUsage.route)))


def serialize_key(row: V1ApiKey, now: datetime) -> dict:
    return {
        "id": row.id,
        "account_id": row.account_id,
        "name": row.name,
        "key_prefix": row.key_prefix,
        "status": key_status(row, now),
        "created_at": isoformat(row.created_at),
        "last_used_at": isoformat(row.last_used_at),
        "stops_at": isoformat(row.stops_at),
        "migrated_to_integration_id": row.migrated_integration_id,
        "migrated_at": isoformat(row.migrated_at),
    }
