"""Token uses counted in this process's memory, so introspection never writes to the database per request."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass
class PendingUse:
    """One token's uses not yet written: its latest use and a count per day."""

    last_used_at: datetime
    last_used_by: str | None
    per_day: dict[date, int] = field(default_factory=dict)


class ActivityBuffer:
    """Thread-safe accumulation of token uses; ``flush`` writes them all at once."""

    def __init__(self) -> None:
        self._pending: dict[str, PendingUse] = {}
        self._lock = threading.Lock()
        # time.monotonic() when the oldest use not yet written arrived (None: nothing pending); the last batch's,
        # for put_back. For the flush-lag metric.
        self._since: float | None = None
        self._taken_since: float | None = None

    def record(self, jti: str, used_by: str | None, now: datetime, count: int = 1) -> None:
        with self._lock:
            entry = self._pending.get(jti)
            if entry is None:
                entry = self._pending[jti] = PendingUse(last_used_at=now, last_used_by=used_by)
                if self._since is None:
                    self._since = time.monotonic()
            elif now >= entry.last_used_at:
                entry.last_used_at, entry.last_used_by = now, used_by
            day = now.date()
            entry.per_day[day] = entry.per_day.get(day, 0) + count

    def recent_use(self, jti: str) -> datetime | None:
        """A use seen by this process but not yet flushed (keeps the inactivity check exact locally)."""
        entry = self._pending.get(jti)
        return entry.last_used_at if entry is not None else None

    def take(self) -> dict[str, PendingUse]:
        with self._lock:
            pending, self._pending = self._pending, {}
            self._taken_since, self._since = self._since, None
        return pending

    def waiting_since(self) -> float | None:
        """``time.monotonic()`` when the oldest use not yet written arrived; None when nothing waits."""
        return self._since

    def put_back(self, pending: dict[str, PendingUse]) -> None:
        """After a failed flush, merge the batch back so nothing is lost while the database is away."""
        with self._lock:
            if self._taken_since is not None and (self._since is None or self._taken_since < self._since):
                self._since = self._taken_since
            for jti, entry in pending.items():
                slot = self._pending.setdefault(jti, PendingUse(entry.last_used_at, entry.last_used_by))
                if entry.last_used_at > slot.last_used_at:
                    slot.last_used_at, slot.last_used_by = entry.last_used_at, entry.last_used_by
                for day, count in entry.per_day.items():
                    slot.per_day[day] = slot.per_day.get(day, 0) + count

    def __len__(self) -> int:
        return len(self._pending)
