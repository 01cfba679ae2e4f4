"""Following the authorization server's token event feed, so revocations reach this service within a second.

Start: take a snapshot (its cursor, and in local mode the revocation state), then long-poll ``/oauth/events`` from
that cursor. The authorization server answers as soon as an event is committed (it checks every 100 ms), the
follower applies the events and polls again at once, so an event lands here in roughly 0.1-0.3 s.

Any failure (server down, bad answer) marks the feed down and, after a short backoff, starts over from a fresh
snapshot: events missed meanwhile are never needed, because the snapshot (local mode) or an emptied cache
(introspection mode) replaces what they would have changed.
"""

from __future__ import annotations

import logging
import time

from .authserver_client import AuthServerClient, RateLimitedError, UnavailableError
from .background import BackgroundLoop
from .introspection_cache import IntrospectionCache
from .jwks import KeySet
from .revocation_state import RevocationState

log = logging.getLogger("authserver_resource")

TOKEN_REVOKED, TOKEN_ENDS, INTEGRATION_CHANGED = "token.revoked", "token.ends", "integration.changed"
KEY_REVOKED = "key.revoked"


class CacheInvalidation:
    """Introspection mode: events drop cached answers. With signed answers (RFC 9701), a revoked key also leaves
    the key set that verifies them at once, rather than at the JWKS's next refresh."""

    def __init__(self, cache: IntrospectionCache, keys: KeySet | None = None) -> None:
        self.cache = cache
        self.keys = keys

    def reset(self, snapshot: dict) -> None:
        self.cache.clear()

    def apply(self, event: dict) -> None:
        kind = event.get("type")
        if kind in (TOKEN_REVOKED, TOKEN_ENDS):
            self.cache.drop_token(str(event["jti"]))
        elif kind == INTEGRATION_CHANGED:
            self.cache.drop_integration(str(event["integration_id"]))
        elif kind == KEY_REVOKED:  # every token that key signed is dead; the cache does not know which those are
            self.cache.clear()
            if self.keys is not None:
                self.keys.forget(str(event["kid"]))

    def tick(self, now: float) -> None:
        pass


class StateUpdates:
    """Local mode: the snapshot and events maintain the revocation state."""

    def __init__(self, state: RevocationState, keys: KeySet | None = None) -> None:
        self.state = state
        self.keys = keys

    def reset(self, snapshot: dict) -> None:
        self.state.load_snapshot(snapshot)

    def apply(self, event: dict) -> None:
        kind = event.get("type")
        if kind == TOKEN_REVOKED:
            self.state.token_revoked(str(event["jti"]), float(event["exp"]))
        elif kind == TOKEN_ENDS:
            ends_at = event.get("ends_at")
            self.state.token_ends(str(event["jti"]), None if ends_at is None else float(ends_at), float(event["exp"]))
        elif kind == INTEGRATION_CHANGED:
            self.state.integration_changed(event)
        elif kind == KEY_REVOKED:
            self.state.key_revoked(str(event["kid"]))
            if self.keys is not None:
                self.keys.forget(str(event["kid"]))

    def tick(self, now: float) -> None:
        self.state.prune(now)


class FeedFollower(BackgroundLoop):
    name = "authserver-resource-feed"
    join_timeout = 0.2  # never wait out a long poll on shutdown: the thread is a daemon, nothing is lost

    def __init__(self, link: AuthServerClient, sink, clock, *, wait: float) -> None:
        super().__init__()
        self.link = link
        self.sink = sink
        self.clock = clock
        self.wait = wait
        self.cursor: int | None = None
        self.events_applied = 0
        self._live = False
        self._last_ok: float | None = None  # monotonic time of the last complete answer

    # -- what validators ask ----------------------------------------------------------------------------
    def is_live(self) -> bool:
        """Connected and current: every event committed more than a moment ago has been applied."""
        if not self._live or self._last_ok is None:
            return False
        return time.monotonic() - self._last_ok < self.wait + self.link.timeout + 1

    def is_fresh(self, max_age: float) -> bool:
        """Live, or was live less than ``max_age`` seconds ago."""
        if self._last_ok is None:
            return False
        return self.is_live() or time.monotonic() - self._last_ok <= max_age

    def status(self) -> dict:
        age = None if self._last_ok is None else round(time.monotonic() - self._last_ok, 3)
        return {
            "live": self.is_live(),
            "cursor": self.cursor,
            "seconds_since_last_answer": age,
            "events_applied": self.events_applied,
        }

    # -- the loop ---------------------------------------------------------------------------------------
    def run(self) -> None:
        backoff = 0.2
        while not self.stopping():
            try:
                self.follow_once()
                backoff = 0.2
            except (UnavailableError, KeyError, TypeError, ValueError) as exc:
                if self._live or self._last_ok is None:
                    log.warning("token event feed down (%s); retrying, cached verdicts age out", exc)
                self._live = False
                self.cursor = None
                # A 429 (the feed counts against this client's introspection limit) says how long to wait.
                if self.sleep(max(backoff, exc.retry_after if isinstance(exc, RateLimitedError) else 0.0)):
                    return
                backoff = min(backoff * 2, 2.0)

    def follow_once(self) -> None:
        """One step: a snapshot if we have no cursor, else one long poll and its events applied."""
        if self.cursor is None:
            snapshot = self.link.snapshot()
            cursor = _cursor(snapshot)
            self.sink.reset(snapshot)
            self.cursor = cursor
            self._mark_ok()
            log.info("token event feed live from cursor %s", cursor)
            return
        answer = self.link.events_after(self.cursor, self.wait)
        events, cursor = answer["events"], _cursor(answer)
        if not isinstance(events, list):
            raise TypeError("events must be a list")
        for event in events:
            self.sink.apply(event)
        self.events_applied += len(events)
        self.cursor = cursor
        self._mark_ok()
        self.sink.tick(self.clock.time())

    def _mark_ok(self) -> None:
        self._last_ok = time.monotonic()
        self._live = True


def _cursor(body: dict) -> int:
    cursor = body["cursor"]
    if not isinstance(cursor, int) or isinstance(cursor, bool):
        raise TypeError("cursor must be an integer")
    return cursor
