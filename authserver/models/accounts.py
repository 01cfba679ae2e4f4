"""Tenancy tables: the account tree, the people who sign in, and who belongs to which account.

Tables only; the rules live in ``accounts.py`` and ``users.py``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Model, UTCDateTime


class Account(Model):
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


class User(Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped on password change and sign-out-everywhere: sessions carry it and die when it moves.
    session_generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Membership(Model):
    __tablename__ = "memberships"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(20))  # admin | member
