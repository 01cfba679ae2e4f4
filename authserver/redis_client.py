"""The one Redis client an app shares (``REDIS_URL``): the feed's wake-ups, the limits and the activity stage.

One connection pool per process instead of one per user. Its half-second timeouts are the hot path's: a rate
limit that waits on Redis holds a request, so a slow Redis must fail fast and fall back (limits/redis_store.py).
A pub/sub subscription blocks without that timeout (redis-py reads it with none), so the feed's listener is not cut.
"""

from __future__ import annotations

import redis

TIMEOUTS = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}


def connect_redis(url: str) -> redis.Redis:
    """A client for ``url``; it connects on first use, so building an app touches no network."""
    return redis.Redis.from_url(url, **TIMEOUTS)
