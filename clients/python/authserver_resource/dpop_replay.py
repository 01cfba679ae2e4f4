"""DPoP ``jti`` replay caches (RFC 9449 section 11.1): a proof is accepted once within the time it could be accepted.

A proof is remembered for ``ttl`` seconds (the iat window: ``max_age + clock_skew``); after that its ``iat`` alone
refuses it, so nothing older needs keeping. Entries are keyed by a digest of the key thumbprint and the ``jti``, so a
client can only ever burn its own identifiers.

- ``MemoryReplayCache``: one process. Several workers or instances each keep their own, so a proof replayed to
  another instance would pass there: configure Redis for those.
- ``RedisReplayCache``: ``SET key 1 NX PX ttl`` on a shared Redis, one round trip; every instance refuses a replay.
  Redis unreachable means a replay cannot be ruled out: fail closed (503), never served.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from typing import Protocol

from .bearer import TemporarilyUnavailableError

KEY_PREFIX = "authserver_resource:dpop:jti:"


class ReplayCache(Protocol):
    needs_io: bool  # True: ``first_use`` may block on the network (async faces call it off the event loop)

    def first_use(self, jkt: str, jti: str) -> bool:
        """True the first time (jkt, jti) is seen within the TTL, False for a replay."""
        ...


def replay_key(jkt: str, jti: str) -> str:
    return hashlib.sha256(f"{jkt}\n{jti}".encode()).hexdigest()


class MemoryReplayCache:
    """Insertion order is expiry order (one TTL for all), so expired entries are dropped from the front."""

    needs_io = False

    def __init__(self, ttl: float, *, max_entries: int = 1_000_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> time.monotonic() it may be forgotten
        self._lock = threading.Lock()

    def first_use(self, jkt: str, jti: str) -> bool:
        key = replay_key(jkt, jti)
        now = time.monotonic()
        with self._lock:
            while self._seen:
                oldest, until = next(iter(self._seen.items()))
                if until > now:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return False
            if len(self._seen) >= self.max_entries:
                raise TemporarilyUnavailableError("too many DPoP proofs to remember right now; retry shortly")
            self._seen[key] = now + self.ttl
            return True

    def __len__(self) -> int:
        return len(self._seen)


class RedisReplayCache:
    needs_io = True

    def __init__(self, url: str, ttl: float, *, timeout: float = 1.0) -> None:
        import redis  # the `redis` extra: imported only when a Redis URL is configured

        self.ttl_ms = max(1, int(ttl * 1000))
        self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._errors = (redis.RedisError, OSError)

    def first_use(self, jkt: str, jti: str) -> bool:
        try:
            return bool(self.client.set(KEY_PREFIX + replay_key(jkt, jti), b"1", nx=True, px=self.ttl_ms))
        except self._errors:
            raise TemporarilyUnavailableError(
                "the DPoP replay cache cannot be reached, so a replayed proof cannot be ruled out; retry shortly"
            ) from None


def replay_cache(redis_url: str, ttl: float) -> ReplayCache:
    return RedisReplayCache(redis_url, ttl) if redis_url else MemoryReplayCache(ttl)
