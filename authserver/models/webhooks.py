"""Webhook tables: subscriptions, the outbox of events, and one delivery row per (event, subscription).

Tables only; the rules live in ``authserver/webhooks/``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Model, UTCDateTime


class WebhookSubscription(Model):
    """A URL that receives events. Owned by exactly one of: an account, one integration, a resource service."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    integration_id: Mapped[str | None] = mapped_column(ForeignKey("integrations.id"), index=True)
    client_id: Mapped[str | None] = mapped_column(ForeignKey("api_clients.client_id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[str] = mapped_column(Text)  # space-separated, sorted
    signing: Mapped[str] = mapped_column(String(10))  # ed25519 (server key, published) | hmac (own secret)
    # The HMAC secret, encrypted with a key derived from the server's webhook key (never stored in clear).
    sealed_secret: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | disabled | deleted
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookEvent(Model):
    """The outbox: written in the same transaction as the change. ``body`` is the exact JSON that is signed."""

    __tablename__ = "webhook_events"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the Standard Webhooks webhook-id
    type: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str] = mapped_column(String(40), index=True)
    integration_id: Mapped[str | None] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)
    # Periodic notices (token.expiring) are emitted once per token and deadline: the unique key enforces it.
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class WebhookDelivery(Model):
    """One event to one subscription: the delivery log (status, attempts, last error) and the retry schedule."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id"), index=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # pending | succeeded | failed | cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retry_until: Mapped[datetime] = mapped_column(UTCDateTime)  # retries stop after this (at least 24 h)
    # A worker holds a delivery while it sends it; a crashed worker's lease simply runs out.
    lease_id: Mapped[str | None] = mapped_column(String(40))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # Lets the unit of work insert the event before its deliveries in the same flush.
    event: Mapped[WebhookEvent] = relationship(lazy="raise")

    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)
