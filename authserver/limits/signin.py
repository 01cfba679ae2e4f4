"""Failed password checks, counted per account (email) and per address, so that guessing passwords is slow.

A brute-force limit must be exact: every worker and instance counts into one store (the database, or Redis when
configured), and an attempt is counted *before* its password is checked, in one atomic step that refuses it when
the limit is reached. Checking first and counting after would let concurrent guesses through: two workers each
read 4 of 5, both allow.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..metrics import count_rate_limit_refusal


@dataclass(frozen=True)
class Limit:
    """At most ``failures`` failed attempts in any ``window`` seconds for one key of this kind."""

    kind: str
    failures: int
    window: int


ACCOUNT_LIMIT = Limit("account", failures=5, window=15 * 60)
ADDRESS_LIMIT = Limit("address", failures=20, window=15 * 60)


class AttemptStore(Protocol):
    def take(self, key: str, at: float, limit: Limit) -> float:
        """Record one attempt at ``at`` (seconds) and return 0, or, when ``limit.failures`` attempts already lie
        in the window, record nothing and return the seconds until one may be made. Atomic across callers."""

    def wait(self, key: str, at: float, limit: Limit) -> float:
        """What ``take`` would return, recording nothing."""

    def give_back(self, key: str, at: float) -> None:
        """Forget one attempt recorded at ``at`` (it turned out not to be a failure)."""

    def clear(self, key: str) -> None: ...


def wait_for(times: list[float], at: float, limit: Limit) -> float:
    """Seconds until an attempt may be made, given the recent attempt times (oldest first): allowed again once
    enough of them have left the window."""
    recent = [t for t in times if t > at - limit.window]
    if len(recent) < limit.failures:
        return 0.0
    return recent[len(recent) - limit.failures] + limit.window - at


class MemoryAttemptStore:
    """One process's counts, for tests and as the shape of the shared stores. Thread-safe, and bounded: the least
    recently touched keys go first, so a flood of addresses cannot fill memory."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._entries: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, at: float, limit: Limit) -> float:
        with self._lock:
            times = [t for t in self._entries.pop(key, []) if t > at - limit.window]
            wait = wait_for(times, at, limit)
            if wait <= 0:
                times = sorted([*times, at])
            self._entries[key] = times
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)
            return max(wait, 0.0)

    def wait(self, key: str, at: float, limit: Limit) -> float:
        with self._lock:
            return max(wait_for(self._entries.get(key, []), at, limit), 0.0)

    def give_back(self, key: str, at: float) -> None:
        with self._lock:
            times = self._entries.get(key, [])
            if at in times:
                times.remove(at)

    def clear(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


class SignInLimiter:
    """Counts each password check before it runs, and hears which ones succeeded."""

    def __init__(
        self, store: AttemptStore | None = None, limits: tuple[Limit, Limit] = (ACCOUNT_LIMIT, ADDRESS_LIMIT)
    ) -> None:
        self.store = store or MemoryAttemptStore()
        self.account_limit, self.address_limit = limits

    def try_attempt(self, *, email: str, address: str | None, now: datetime) -> int | None:
        """Count one attempt against the account and the address: None when its password may be checked now, or
        the whole seconds to wait (and nothing counted). Every attempt counts as a failure until
        ``record_success`` says otherwise."""
        at = now.timestamp()
        taken: list[str] = []
        for limit, key in self._keys(email, address):
            wait = self.store.take(key, at, limit)
            if wait > 0:
                count_rate_limit_refusal(f"signin_{limit.kind}")
                for earlier in taken:
                    self.store.give_back(earlier, at)
                return math.ceil(wait)
            taken.append(key)
        return None

    def retry_after(self, *, email: str, address: str | None, now: datetime) -> int | None:
        """Seconds until an attempt may be made, or None when it may be made now; counts nothing."""
        at = now.timestamp()
        longest = max((self.store.wait(key, at, limit) for limit, key in self._keys(email, address)), default=0.0)
        return math.ceil(longest) if longest > 0 else None

    def record_success(self, *, email: str, address: str | None, now: datetime) -> None:
        """The account's count starts again; the address only gets this attempt back (one good password must not
        reset it). ``now`` is the one ``try_attempt`` was given."""
        self.store.clear(_key(self.account_limit, email))
        if address:
            self.store.give_back(_key(self.address_limit, address), now.timestamp())

    def _keys(self, email: str, address: str | None) -> list[tuple[Limit, str]]:
        keys = [(self.account_limit, _key(self.account_limit, email))]
        if address:
            keys.append((self.address_limit, _key(self.address_limit, address)))
        return keys


def _key(limit: Limit, value: str) -> str:
    """Keys hold a digest, so the store never keeps email addresses."""
    normalized = value.strip().lower() if limit.kind == "account" else value
    return f"signin:{limit.kind}:{hashlib.sha256(normalized.encode()).hexdigest()}"
