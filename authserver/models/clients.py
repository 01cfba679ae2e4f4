"""Registered API clients. Tables only; the rules live in ``clients.py``, authentication in ``oauth/client_auth.py``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime


class ApiClient(Model):
    """A registered caller: a resource service (introspects) or an admin client (manages and revokes)."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))  # resource-service | admin
    # A resource service's RFC 8707 resource URI: tokens limited to named services are active only for theirs.
    resource: Mapped[str | None] = mapped_column(String(500))
    # Its own introspection limit, "N/period" or "off" (limits/rates.py); NULL: AUTHSERVER_RATE_LIMIT_INTROSPECTION.
    introspection_limit: Mapped[str | None] = mapped_column(String(40))
    # A resource service's ping URL (service_ping.py): the admin UI's Check access calls it with a pasted token.
    ping_url: Mapped[str | None] = mapped_column(String(500))
    # "always": every introspection answer to it is a signed JWT (RFC 9701); NULL: signed only when it asks (Accept).
    introspection_signing: Mapped[str | None] = mapped_column(String(20))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    secret_digest: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the secret
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Secret rotation with overlap: the previous secret's digest keeps working until previous_secret_expires_at.
    previous_secret_digest: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Coarse (buffered per process, see oauth/client_auth.py ClientUses): when the client last authenticated.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A tombstone: the row stays for audit trails and webhook references, with no credential left in it.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
