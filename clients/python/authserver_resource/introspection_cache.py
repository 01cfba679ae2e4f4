"""Cached introspection answers, keyed by a SHA-256 digest of the token (the token itself is never kept).

Rules that make the cache safe:
- a positive answer lives at most ``ttl`` seconds and never past the token's ``exp`` (which the authorization server
  already lowers to any grace deadline or scheduled end); a negative answer lives ``negative_ttl``;
- feed events drop entries by ``jti`` or ``integration_id`` (revocation, rotation, expiry, scope or status change);
- an answer fetched while an event was being applied is not stored: ``generation`` is read before asking the
  authorization server and ``put`` refuses if any drop happened since (else a stale "active" could outlive the
  event that should have removed it).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from .grants import Grant


@dataclass(frozen=True)
class CachedAnswer:
    grant: Grant | None  # None: the authorization server said inactive
    fresh_until: float  # time.monotonic()

    def is_fresh(self) -> bool:
        return time.monotonic() < self.fresh_until


class IntrospectionCache:
    def __init__(self, ttl: float, negative_ttl: float, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.max_entries = max_entries
        self.generation = 0
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._by_jti: dict[str, str] = {}
        self._by_integration: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, key: str, grant: Grant | None, *, now: float, generation: int) -> None:
        """Remember an answer obtained when ``self.generation`` was ``generation``; ``now`` is wall-clock time."""
        lifetime = self.negative_ttl if grant is None else min(self.ttl, grant.exp - now)
        if lifetime <= 0:
            return
        answer = CachedAnswer(grant, time.monotonic() + lifetime)
        with self._lock:
            if generation != self.generation:
                return
            self._remove(key)
            self._entries[key] = answer
            if grant is not None:
                self._by_jti[grant.jti] = key
                self._by_integration.setdefault(grant.integration_id, set()).add(key)
            while len(self._entries) > self.max_entries:
                self._remove(next(iter(self._entries)))

    def forget(self, key: str) -> None:
        with self._lock:
            self._remove(key)

    # -- what the event feed calls ----------------------------------------------------------------------
    def drop_token(self, jti: str) -> None:
        with self._lock:
            self.generation += 1
            key = self._by_jti.get(jti)
            if key is not None:
                self._remove(key)

    def drop_integration(self, integration_id: str) -> None:
        """Scopes or status changed: every answer about its tokens is out of date, and so is every negative
        answer (a re-enabled integration's tokens are live again)."""
        with self._lock:
            self.generation += 1
            for key in list(self._by_integration.get(integration_id, ())):
                self._remove(key)
            for key in [k for k, answer in self._entries.items() if answer.grant is None]:
                self._remove(key)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()
            self._by_jti.clear()
            self._by_integration.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _remove(self, key: str) -> None:
        answer = self._entries.pop(key, None)
        if answer is None or answer.grant is None:
            return
        grant = answer.grant
        if self._by_jti.get(grant.jti) == key:
            del self._by_jti[grant.jti]
        keys = self._by_integration.get(grant.integration_id)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_integration[grant.integration_id]
