"""Rate limits shared by every instance through Redis: request budgets (GCRA) and failed sign-ins (a sorted set).

Each check is one round trip (a Lua script or a pipeline), atomic on the Redis side. When Redis is unreachable the
limits carry on in this process's memory (per instance instead of shared) rather than refusing everyone or
letting everyone through; the switch is logged, at most once a minute.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

import redis

from .fair_gate import stepped_out

from .request_limits import Rate

log = logging.getLogger(__name__)

# KEYS[1]: the key's next arrival time. ARGV: now, interval, period (seconds), cells wanted. Grants as many of the
# wanted cells as the budget allows (at least one, or none and the wait). Times travel as text: Lua numbers are
# doubles and Redis would truncate a returned number to an integer.
_GCRA = """
local now, interval, period, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local arrival = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if arrival < now or arrival > now + period then arrival = now end  -- beyond now + period: a clock stepped back
local grant = math.min(want, math.floor((now + period - arrival) / interval + 1e-9))
if grant < 1 then return {0, tostring(arrival + interval - period - now)} end
arrival = arrival + grant * interval
redis.call('SET', KEYS[1], string.format('%.6f', arrival), 'PX', math.ceil((arrival - now) * 1000) + 1000)
return {grant, '0'}
"""

LEASE_SECONDS = 1.0  # cells taken ahead and not used within this long are given up

_CONNECT = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}


class _Fallback:
    """Runs a Redis call, or the in-memory one when Redis fails."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._warned_at = 0.0

    def failed(self, exc: Exception) -> None:
        if time.monotonic() - self._warned_at > 60:
            self._warned_at = time.monotonic()
            log.warning("redis unavailable for %s (%s); limits are per instance until it returns",
                        self.what, exc.__class__.__name__)


class RedisRateStore:
    """``RateStore`` over Redis: the budget of a client or account is the same on every instance.

    To keep the hot path off the network, an instance takes cells ahead in leases of 1% of the limit (one round
    trip per lease, e.g. per 60 introspections at 6000/1m) and hands them out from memory for up to a second. Leased
    cells are already spent in Redis, so instances together never exceed the limit; at worst they stop a lease
    short of it."""

    def __init__(self, redis_url: str, prefix: str, *, fallback) -> None:
        self.redis = redis.Redis.from_url(redis_url, **_CONNECT)
        self.prefix, self.fallback = f"{prefix}:", fallback
        self._gcra = self.redis.register_script(_GCRA)
        self._fallback = _Fallback("rate limits")
        self._leases: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, rate: Rate, now: float) -> float:
        with self._lock:
            left, taken_at = self._leases.get(key, (0, 0.0))
            if left > 0 and 0 <= now - taken_at < LEASE_SECONDS:
                self._leases[key] = (left - 1, taken_at)
                return 0.0
        try:
            with stepped_out():  # a network round trip: the hot path's next request goes on meanwhile
                granted, wait = self._gcra(keys=[self.prefix + key], args=[
                    repr(now), repr(rate.interval), repr(rate.period), max(1, rate.count // 100)])
        except redis.RedisError as exc:
            self._fallback.failed(exc)
            return self.fallback.acquire(key, rate, now)
        if int(granted) < 1:
            return float(wait)
        with self._lock:
            if int(granted) > 1:
                self._leases[key] = (int(granted) - 1, now)
                if len(self._leases) > 10_000:  # keys of clients gone quiet; their leases are worth little
                    self._leases.clear()
            else:
                self._leases.pop(key, None)
        return 0.0


class RedisAttemptStore:
    """``ratelimit.AttemptStore`` over Redis: one sorted set of failure times per key, expiring with its window."""

    def __init__(self, redis_url: str, prefix: str, *, fallback) -> None:
        self.redis = redis.Redis.from_url(redis_url, **_CONNECT)
        self.prefix, self.fallback = f"{prefix}:", fallback
        self._fallback = _Fallback("sign-in limits")

    def add(self, key: str, at: float, window: int) -> None:
        name = self.prefix + key
        try:
            pipe = self.redis.pipeline(transaction=True)
            pipe.zadd(name, {f"{at!r}:{secrets.token_hex(4)}": at})
            pipe.zremrangebyscore(name, "-inf", at - window)
            pipe.expire(name, window + 1)
            pipe.execute()
        except redis.RedisError as exc:
            self._fallback.failed(exc)
            self.fallback.add(key, at, window)

    def since(self, key: str, start: float) -> list[float]:
        try:
            return [score for _, score in self.redis.zrangebyscore(self.prefix + key, start, "+inf",
                                                                  withscores=True)]
        except redis.RedisError as exc:
            self._fallback.failed(exc)
            return self.fallback.since(key, start)

    def clear(self, key: str) -> None:
        try:
            self.redis.delete(self.prefix + key)
        except redis.RedisError as exc:
            self._fallback.failed(exc)
        self.fallback.clear(key)
