"""Shared limit state. Tables only; the rules live in ``limits/``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Model


class LimitCounter(Model):
    """One limit key's state, shared by every worker and instance (limits/database_store.py): a failed sign-in's
    recent attempt times, or a request budget's next arrival time. Changed only by compare-and-set on ``version``."""

    __tablename__ = "limit_counters"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    state: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    # Epoch milliseconds after which the row says nothing any more and may be deleted.
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
