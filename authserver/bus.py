"""Wake-ups for the token event feed: a long-polling resource service hears of a revocation as soon as it commits.

Without Redis, a commit (published by feed_wakeups.py) wakes waiters in the same process at once, and waiters
also poll the shared table every 100 ms, which covers other processes and instances. With ``REDIS_URL``, a commit
is published on a Redis channel that every instance subscribes to, so any instance wakes its waiters within
milliseconds; the table is then only polled once a second as a safety net.
"""

from __future__ import annotations

import logging
import threading

import redis

log = logging.getLogger(__name__)


class EventBus:
    """Wakes this process's waiters on a publish, and (given the app's Redis client) every instance's."""

    def __init__(self, client: redis.Redis | None = None, prefix: str = "authserver") -> None:
        self.channel = f"{prefix}:token-events"
        self._condition = threading.Condition()
        self._generation = 0
        self._redis = client
        self._listener: threading.Thread | None = None

    @property
    def poll_interval(self) -> float:
        return 1.0 if self._redis is not None else 0.1

    def publish(self) -> None:
        self._wake()
        if self._redis is not None:
            try:
                self._redis.publish(self.channel, "1")
            except Exception as exc:  # other instances fall back to polling the table
                log.warning("redis publish failed: %s", exc.__class__.__name__)

    def wait(self, timeout: float) -> None:
        """Block until the next publish anywhere (or ``timeout``)."""
        self._ensure_listener()
        with self._condition:
            seen = self._generation
            self._condition.wait_for(lambda: self._generation != seen, timeout=max(0.0, timeout))

    def ping(self) -> bool:
        if self._redis is None:
            return True
        try:
            return bool(self._redis.ping())
        except Exception:
            return False

    def _wake(self) -> None:
        with self._condition:
            self._generation += 1
            self._condition.notify_all()

    def _ensure_listener(self) -> None:
        if self._redis is None or (self._listener is not None and self._listener.is_alive()):
            return
        self._listener = threading.Thread(target=self._listen, args=(self._redis,), name="event-bus", daemon=True)
        self._listener.start()

    def _listen(self, client: redis.Redis) -> None:
        while True:
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wake()
            except Exception as exc:
                log.warning("redis subscription lost (%s); retrying", exc.__class__.__name__)
                threading.Event().wait(1.0)
