"""Signing keys' public halves and lifecycle. Tables only; the rules live in ``keys.py``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime


class SigningKey(Model):
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
