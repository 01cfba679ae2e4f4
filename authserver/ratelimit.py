"""Failed sign-ins, counted per account (email) and per address, so that guessing passwords is slow.

Counts live in memory, per process, for now. ``AttemptStore`` is the seam for a shared store: a Redis sorted set per
key (ZADD, ZREMRANGEBYSCORE, ZRANGE) implements the same three methods, and then every instance sees every failure.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class Limit:
    """At most ``failures`` failed sign-ins per ``window`` seconds for one key of this kind."""

    kind: str
    failures: int
    window: int


ACCOUNT_LIMIT = Limit("account", failures=5, window=15 * 60)
ADDRESS_LIMIT = Limit("address", failures=20, window=15 * 60)


class AttemptStore(Protocol):
    def add(self, key: str, at: float, window: int) -> None:
        """Record one failure at ``at`` (seconds); entries older than ``window`` may be dropped."""

    def since(self, key: str, start: float) -> list[float]:
        """Failure times at or after ``start``, oldest first."""

    def clear(self, key: str) -> None: ...


class MemoryAttemptStore:
    """Thread-safe, and bounded: the least recently touched keys go first, so a flood of addresses cannot fill
    memory."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._entries: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str, at: float, window: int) -> None:
        with self._lock:
            times = [t for t in self._entries.pop(key, []) if t > at - window]
            times.append(at)
            self._entries[key] = times
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)

    def since(self, key: str, start: float) -> list[float]:
        with self._lock:
            return sorted(t for t in self._entries.get(key, []) if t >= start)

    def clear(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


class SignInLimiter:
    """Asks before each sign-in whether one may be tried now, and hears about each failure and success."""

    def __init__(self, store: AttemptStore | None = None,
                 limits: tuple[Limit, Limit] = (ACCOUNT_LIMIT, ADDRESS_LIMIT)) -> None:
        self.store = store or MemoryAttemptStore()
        self.account_limit, self.address_limit = limits

    def retry_after(self, *, email: str, address: str | None, now: datetime) -> int | None:
        """Seconds until a sign-in may be tried again, or None when it may be tried now."""
        at = now.timestamp()
        waits = [self._wait(limit, key, at) for limit, key in self._keys(email, address)]
        longest = max(waits, default=0.0)
        return math.ceil(longest) if longest > 0 else None

    def record_failure(self, *, email: str, address: str | None, now: datetime) -> None:
        for limit, key in self._keys(email, address):
            self.store.add(key, now.timestamp(), limit.window)

    def record_success(self, *, email: str) -> None:
        """The account's count starts again; the address's does not (one good password must not reset it)."""
        self.store.clear(_key(self.account_limit, email))

    def _wait(self, limit: Limit, key: str, at: float) -> float:
        recent = self.store.since(key, at - limit.window)
        if len(recent) < limit.failures:
            return 0.0
        # Allowed again once enough of the recent failures have left the window.
        return recent[len(recent) - limit.failures] + limit.window - at

    def _keys(self, email: str, address: str | None) -> list[tuple[Limit, str]]:
        keys = [(self.account_limit, _key(self.account_limit, email))]
        if address:
            keys.append((self.address_limit, _key(self.address_limit, address)))
        return keys


def _key(limit: Limit, value: str) -> str:
    """Keys hold a digest, so the store never keeps email addresses."""
    normalized = value.strip().lower() if limit.kind == "account" else value
    return f"signin:{limit.kind}:{hashlib.sha256(normalized.encode()).hexdigest()}"
