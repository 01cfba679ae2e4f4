"""Signed-in browsers. Tables only; the rules live in ``user_sessions.py``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime


class UserSession(Model):
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
