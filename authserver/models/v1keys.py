"""Legacy v1 API keys and what they were seen doing: the raw material of the migration to v2 integrations.

Tables only; the rules live in ``authserver/v1keys/``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime


class V1ApiKey(Model):
    """An unscoped, full-access v1 key. Only a SHA-256 digest of the key is stored."""

    __tablename__ = "v1_api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))  # enough to recognise a key in a list, not to use it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by a migration: the key keeps working until then (the overlap); a rollback clears it.
    stops_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    migrated_integration_id: Mapped[str | None] = mapped_column(String(40))
    migrated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class V1KeyUsage(Model):
    """Calls per v1 route template (``GET /v1/contacts/{id}``): which routes a key called and when last."""

    __tablename__ = "v1_key_usage"

    key_id: Mapped[str] = mapped_column(ForeignKey("v1_api_keys.id"), primary_key=True)
    route: Mapped[str] = mapped_column(String(120), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_by: Mapped[str | None] = mapped_column(String(64))  # the resource service that saw the call
