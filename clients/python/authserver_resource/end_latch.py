"""Ends this service has seen, so a clock stepping back cannot revive a token it already refused as over.

Once a validator has judged a token past its ``exp`` or scheduled end (grace deadline) on this service's clock, the
token's SHA-256 digest is latched: it is refused from then on without asking anyone, even if the wall clock is
later corrected backwards or the authorization server, whose clock never reached the end, would still call it
active. The token, not its ``jti``: a copy re-signed with an earlier ``exp`` must not end the genuine one. The
authorization server latches the ends it sees the same way, in its database (``access_tokens.ended_at``).

Entries are kept for ``retention`` seconds of *monotonic* time (a wall clock stepping back cannot shorten that) and
at most ``max_entries`` of them, oldest dropped first: only validly signed tokens reach the latch, so its size is
bounded by the tokens actually issued and presented after their end.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class EndLatch:
    def __init__(self, retention: float = 7 * 24 * 3600.0, max_entries: int = 100_000) -> None:
        self.retention = retention
        self.max_entries = max_entries
        self._ended: OrderedDict[bytes | str, float] = OrderedDict()  # key -> monotonic time latched, oldest first
        self._lock = threading.Lock()

    def latch(self, key: bytes | str) -> None:
        now = time.monotonic()
        with self._lock:
            if key in self._ended:
                return
            self._ended[key] = now
            while self._ended and (
                len(self._ended) > self.max_entries or now - next(iter(self._ended.values())) > self.retention
            ):
                self._ended.popitem(last=False)

    def has_ended(self, key: bytes | str) -> bool:
        latched = self._ended.get(key)
        return latched is not None and time.monotonic() - latched <= self.retention

    def __len__(self) -> int:
        return len(self._ended)
