"""Limits shared by every instance through Redis: request budgets (GCRA) and failed password checks (a sorted set).

Each check is one round trip (a Lua script), atomic on the Redis side. When Redis is unreachable each limit carries
on in the store it would use without Redis (the database for failed password checks, so they stay exact; see
limits/build.py) rather than refusing everyone or letting everyone through; the switch is logged, at most once a
minute.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import cast

import redis

from ..hotpath.fair_gate import NOT_GATED, WaitHook
from .rates import Rate
from .signin import Limit

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


class _Fallback:
    """Runs a Redis call, or the in-memory one when Redis fails."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._warned_at = 0.0

    def failed(self, exc: Exception) -> None:
        if time.monotonic() - self._warned_at > 60:
            self._warned_at = time.monotonic()
            log.warning(
                "redis unavailable for %s (%s); limits are per instance until it returns",
                self.what,
                exc.__class__.__name__,
            )


class RedisRateStore:
    """``RateStore`` over Redis: the budget of a client or account is the same on every instance.

    To keep the hot path off the network, an instance takes cells ahead in leases of 1% of the limit (one round
    trip per lease, e.g. per 60 introspections at 6000/1m) and hands them out from memory for up to a second. Leased
    cells are already spent in Redis, so instances together never exceed the limit; at worst they stop a lease
    short of it."""

    def __init__(self, client: redis.Redis, prefix: str, *, fallback) -> None:
        self.redis = client  # the app's one client (redis_client.py): its timeouts are the hot path's
        self.prefix, self.fallback = f"{prefix}:", fallback
        self._gcra = self.redis.register_script(_GCRA)
        self._fallback = _Fallback("rate limits")
        self._leases: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, rate: Rate, now: float, wait: WaitHook = NOT_GATED) -> float:
        with self._lock:
            left, taken_at = self._leases.get(key, (0, 0.0))
            if left > 0 and 0 <= now - taken_at < LEASE_SECONDS:
                self._leases[key] = (left - 1, taken_at)
                return 0.0
        try:
            with wait:  # a network round trip: the hot path's next request goes on meanwhile
                granted, retry_in = self._gcra(
                    keys=[self.prefix + key],
                    args=[repr(now), repr(rate.interval), repr(rate.period), max(1, rate.count // 100)],
                )
        except redis.RedisError as exc:
            self._fallback.failed(exc)
            return self.fallback.acquire(key, rate, now)
        if int(granted) < 1:
            return float(retry_in)
        with self._lock:
            if int(granted) > 1:
                self._leases[key] = (int(granted) - 1, now)
                if len(self._leases) > 10_000:  # keys of clients gone quiet; their leases are worth little
                    self._leases.clear()
            else:
                self._leases.pop(key, None)
        return 0.0


class RedisAttemptStore:
    """``signin.AttemptStore`` over Redis: one sorted set of attempt times per key, expiring with its window."""

    def __init__(self, client: redis.Redis, prefix: str, *, fallback) -> None:
        self.redis = client
        self.prefix, self.fallback = f"{prefix}:", fallback
        self._take = self.redis.register_script(_TAKE_ATTEMPT)
        self._give_back = self.redis.register_script(_GIVE_BACK_ATTEMPT)
        self._fallback = _Fallback("sign-in limits")

    def take(self, key: str, at: float, limit: Limit) -> float:
        try:
            return float(
                self._take(
                    keys=[self.prefix + key],
                    args=[repr(at), limit.window, limit.failures, f"{at!r}:{secrets.token_hex(4)}"],
                )
            )
        except redis.RedisError as exc:
            self._fallback.failed(exc)
            return self.fallback.take(key, at, limit)

    def wait(self, key: str, at: float, limit: Limit) -> float:
        try:
            times = [
                score
                for _, score in cast(
                    list[tuple[bytes, float]],
                    self.redis.zrangebyscore(self.prefix + key, f"({at - limit.window!r}", "+inf", withscores=True),
                )
            ]
        except redis.RedisError as exc:
            self._fallback.failed(exc)
            return self.fallback.wait(key, at, limit)
        recent = times[-limit.failures :]
        return max(recent[0] + limit.window - at, 0.0) if len(recent) >= limit.failures else 0.0

    def give_back(self, key: str, at: float) -> None:
        try:
            self._give_back(keys=[self.prefix + key], args=[repr(at)])
        except redis.RedisError as exc:
            self._fallback.failed(exc)
            self.fallback.give_back(key, at)

    def clear(self, key: str) -> None:
        try:
            self.redis.delete(self.prefix + key)
        except redis.RedisError as exc:
            self._fallback.failed(exc)
            self.fallback.clear(key)


# KEYS[1]: the key's attempt times. ARGV: now, window (seconds), failures allowed, a unique member. Counts the
# attempt and returns '0', or returns the seconds to wait (as text: see _GCRA) and counts nothing.
_TAKE_ATTEMPT = """
local now, window, failures = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= failures then
  local oldest = redis.call('ZRANGE', KEYS[1], count - failures, count - failures, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
return '0'
"""

# KEYS[1]: the key's attempt times. ARGV: the time of the attempt to forget (one of them, if several share it).
_GIVE_BACK_ATTEMPT = """
local found = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1], 'LIMIT', 0, 1)
if found[1] then redis.call('ZREM', KEYS[1], found[1]) end
return 0
"""
