"""Each token's calls per day, per reporting resource service and per scope the calls needed (usage reports).

Table only; the writes and reads live in ``activity/by_service.py``. ``scope`` is ``""`` for calls that needed a
valid token and no particular scope. Which granted scopes were never exercised is read from here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model


class TokenUsageByService(Model):
    __tablename__ = "token_usage_by_service"

    jti: Mapped[str] = mapped_column(ForeignKey("access_tokens.jti"), primary_key=True)
    day: Mapped[datetime] = mapped_column(Date, primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the reporting client's client_id
    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
