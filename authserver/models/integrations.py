"""Integrations, the tokens issued to them, and each token's uses per day.

Tables only; the rules live in ``integrations.py``, ``tokens.py`` and ``activity/``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime


class Integration(Model):
    __tablename__ = "integrations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    scopes: Mapped[str] = mapped_column(Text)  # space-separated, sorted
    # RFC 8707 resource URIs its tokens are limited to (their ``aud``): space-separated, sorted; NULL = unrestricted.
    resources: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | disabled | deleted
    inactivity_window: Mapped[int | None] = mapped_column(Integer)  # seconds; NULL = never
    # RFC 9449: the RFC 7638 SHA-256 thumbprint of the public key its new tokens are bound to (cnf.jkt); NULL = unbound.
    dpop_jkt: Mapped[str | None] = mapped_column(String(43))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Optimistic lock: every lifecycle action bumps it; a concurrent writer sees a conflict.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class AccessToken(Model):
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
    # The key thumbprint signed into its cnf.jkt at issue (RFC 9449); NULL = a plain bearer token.
    dpop_jkt: Mapped[str | None] = mapped_column(String(43))

    __table_args__ = (
        Index("ix_access_tokens_integration_issued", "integration_id", "issued_at"),
        Index("ix_access_tokens_kid_expires", "kid", "expires_at"),
    )


class TokenUsageDaily(Model):
    __tablename__ = "token_usage_daily"

    jti: Mapped[str] = mapped_column(ForeignKey("access_tokens.jti"), primary_key=True)
    day: Mapped[datetime] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
