"""Tables only. Behaviour lives in the domain modules (accounts, integrations, tokens, keys, audit)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: SQLite keeps no zone, PostgreSQL gets the same values."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class Account(db.Model):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    # Space-separated scope ceiling for the account's integrations; NULL means the whole catalogue.
    allowed_scopes: Mapped[str | None] = mapped_column(Text)
    max_token_lifetime: Mapped[int | None] = mapped_column(Integer)
    # Inactivity auto-expiry: default window for new integrations, the longest allowed, and whether "never" is allowed.
    default_inactivity_window: Mapped[int | None] = mapped_column(Integer)
    max_inactivity_window: Mapped[int | None] = mapped_column(Integer)
    allow_no_inactivity_expiry: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    parent: Mapped[Account | None] = relationship(remote_side=[id])


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped on password change and sign-out-everywhere: sessions carry it and die when it moves.
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Membership(db.Model):
    __tablename__ = "memberships"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(20))  # admin | member


class Integration(db.Model):
    __tablename__ = "integrations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    scopes: Mapped[str] = mapped_column(Text)  # space-separated, sorted
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | disabled | deleted
    inactivity_window: Mapped[int | None] = mapped_column(Integer)  # seconds; NULL = never
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Optimistic lock: every lifecycle action bumps it; a concurrent writer sees a conflict.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class AccessToken(db.Model):
    """One issued JWT, by ``jti``. Nothing here can rebuild the token: the JWT itself is never stored."""

    __tablename__ = "access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    integration_id: Mapped[str] = mapped_column(ForeignKey("integrations.id"))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    kid: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(Text)  # at issue, then only ever narrowed (with its integration's)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the JWT's exp
    # A scheduled end before exp: a grace deadline after rotation, or "expire later".
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revocation_reason: Mapped[str | None] = mapped_column(String(40))
    replaced_by: Mapped[str | None] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_by: Mapped[str | None] = mapped_column(String(64))
    # When a reader first saw it past exp, ends_at or its idle deadline: latched, so a clock stepping back cannot
    # make it live again (tokens.record_end).
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_access_tokens_integration_issued", "integration_id", "issued_at"),
        Index("ix_access_tokens_kid_expires", "kid", "expires_at"),
    )


class TokenUsageDaily(db.Model):
    __tablename__ = "token_usage_daily"

    jti: Mapped[str] = mapped_column(ForeignKey("access_tokens.jti"), primary_key=True)
    day: Mapped[datetime] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ApiClient(db.Model):
    """A registered caller: a resource service (introspects) or an admin client (manages and revokes)."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))  # resource-service | admin
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    secret_digest: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the secret
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Secret rotation with overlap: the previous secret's digest keeps working until previous_secret_expires_at.
    previous_secret_digest: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Coarse (buffered per process, see oauth/clients.py ClientUses): when the client last authenticated.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A tombstone: the row stays for audit trails and webhook references, with no credential left in it.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigningKey(db.Model):
    """Public half and lifecycle of a signing key; the private half stays in the keys directory."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(10))
    public_jwk: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Published from creation; signs from here on (later than created_at when pre-published: see keys.py).
    signs_from: Mapped[datetime] = mapped_column(UTCDateTime)
    # When a newer key takes over signing; the key stays published while its tokens may be active.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Every token it signed is inactive from here on, and it leaves the JWKS.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(db.Model):
    """Append-only: rows are inserted, never updated or deleted (enforced in audit.py)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str | None] = mapped_column(String(40), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_type: Mapped[str] = mapped_column(String(20))  # user | admin_client | token_holder | system | operator
    actor_id: Mapped[str | None] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str | None] = mapped_column(String(30))
    target_id: Mapped[str | None] = mapped_column(String(64))
    source_address: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_events_target", "target_type", "target_id"),)


class TokenEvent(db.Model):
    """A change resource services must honour fast (revocation, scheduled end, scope or status change).

    Written in the same transaction as the change; services read the feed by increasing id."""

    __tablename__ = "token_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    type: Mapped[str] = mapped_column(String(40))  # token.revoked | token.ends | integration.changed | key.revoked
    # NULL for events about every account (key.revoked): every service sees them.
    account_id: Mapped[str | None] = mapped_column(String(40))
    integration_id: Mapped[str | None] = mapped_column(String(40))
    jti: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict | None] = mapped_column(JSON)


class UserSession(db.Model):
    """A signed-in browser. Only the SHA-256 digest of the session id is stored: a database leak signs no one in."""

    __tablename__ = "user_sessions"

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    # The user's session_generation at sign-in: a password change moves it and every older session dies.
    generation: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # absolute end, however active the session
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LimitCounter(db.Model):
    """One limit key's state, shared by every worker and instance (limits/database_store.py): a failed sign-in's
    recent attempt times, or a request budget's next arrival time. Changed only by compare-and-set on ``version``."""

    __tablename__ = "limit_counters"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    # Epoch milliseconds after which the row says nothing any more and may be deleted.
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


from . import models_v1keys, models_webhooks  # noqa: E402,F401  (registers the webhook and v1 key tables)
