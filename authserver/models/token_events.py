"""The event feed resource services read. Tables only; events are written by ``events.py`` and served by
``oauth/feed.py``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime


class TokenEvent(Model):
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
