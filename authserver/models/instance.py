"""Values that belong to the whole instance, not to an account. Tables only; the rules live in ``issuer.py``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model, UTCDateTime


class InstanceSetting(Model):
    """One named value (``issuer``: the AUTHSERVER_ISSUER recorded at init, which every token names)."""

    __tablename__ = "instance_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(2000))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
