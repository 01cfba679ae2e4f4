"""The authorization server's signing keys (JWKS), fetched on demand and refetched when an unknown ``kid`` appears.

Refetches caused by unknown kids are rate-limited (at most one per ``refetch_interval``), so a flood of tokens with
made-up kids costs one request to the authorization server, not one each. Known keys are refreshed in the
background of normal traffic every ``max_age`` seconds; a failed refresh keeps the keys we have.
"""

from __future__ import annotations

import logging
import threading
import time

import jwt

from .authserver_client import UnavailableError

log = logging.getLogger("authserver_resource")

# Asymmetric algorithms only: a JWK declaring anything else (HS256, none) is ignored.
SUPPORTED_ALGS = frozenset({"RS256", "ES256", "EdDSA"})


class KeySet:
    def __init__(self, fetch, *, refetch_interval: float, max_age: float = 300.0) -> None:
        self.fetch = fetch  # () -> JWKS document; raises UnavailableError
        self.refetch_interval = refetch_interval
        self.max_age = max_age
        self.fetch_count = 0
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # last successful fetch (monotonic)
        self._attempted_at: float | None = None  # last attempt, successful or not
        self._last_attempt_failed = False
        self._lock = threading.Lock()

    def key_for(self, kid: str) -> jwt.PyJWK | None:
        """The key for ``kid``, or None if the authorization server does not publish it.

        Raises ``UnavailableError`` when we cannot tell: no usable JWKS has been fetched recently enough."""
        key = self._keys.get(kid)
        if key is not None and not self._is_stale():
            return key
        self._refresh(force=key is None)
        key = self._keys.get(kid)
        if key is not None:
            return key  # a failed refresh keeps the keys we have
        if self._fetched_at is None or self._last_attempt_failed:
            raise UnavailableError("the JWKS could not be fetched; the kid may be new")
        return None

    def forget(self, kid: str) -> None:
        """The authorization server revoked ``kid`` (feed event): drop it, and let the next unknown kid fetch at
        once, since its replacement has usually just started signing."""
        with self._lock:
            self._keys = {known: key for known, key in self._keys.items() if known != kid}
            self._attempted_at = None

    def _is_stale(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at > self.max_age

    def _refresh(self, *, force: bool) -> None:
        """Fetch unless rate-limited. A background-style refresh of known keys never waits for another fetch."""
        if not self._lock.acquire(blocking=force):
            return
        try:
            now = time.monotonic()
            if self._attempted_at is not None and now - self._attempted_at < self.refetch_interval:
                return  # rate limit: someone fetched (or tried) a moment ago
            if not force and not self._is_stale():
                return
            self._attempted_at = now
            self.fetch_count += 1
            try:
                document = self.fetch()
            except UnavailableError as exc:
                log.warning("JWKS fetch failed: %s", exc)
                self._last_attempt_failed = True
                return
            self._keys = parse_jwks(document)
            self._fetched_at = now
            self._last_attempt_failed = False
        finally:
            self._lock.release()


def parse_jwks(document: dict) -> dict[str, jwt.PyJWK]:
    """kid -> key, keeping only signing keys that declare a supported ``alg`` (which pins the algorithm)."""
    keys = {}
    for data in document.get("keys", []) if isinstance(document.get("keys"), list) else []:
        if not isinstance(data, dict):
            continue
        kid, alg = data.get("kid"), data.get("alg")
        if not isinstance(kid, str) or alg not in SUPPORTED_ALGS or data.get("use", "sig") != "sig":
            continue
        try:
            keys[kid] = jwt.PyJWK(data, algorithm=alg)
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
    return keys
