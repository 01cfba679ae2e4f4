"""Activity counts staged in Redis, so an instance that dies loses at most a quarter second of its counts.

Each process moves its in-memory buffer to Redis every ``HANDOFF_INTERVAL`` seconds (a pipelined HINCRBY per
token-day and a max-update of last use). Every flush interval one instance, holding a short Redis lock, takes the
staged counts atomically (RENAME) and writes them to the database in one transaction. If that instance dies
after taking them but before committing, the staged key stays behind under its batch name and the next flusher
writes it; if it dies after committing but before deleting it, that batch can be counted twice (over-count, never
loss).
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import cast

import redis

from .buffer import ActivityBuffer, PendingUse

HANDOFF_INTERVAL = 0.25

# Keep the later of two last-use values: "epoch|client".
_SET_MAX = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current or tonumber(string.match(current, '^[^|]+')) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[3])
end
"""

# Take the staged counts (and last uses) into a batch, atomically.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RENAME', KEYS[1], KEYS[3])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[4]) end
return 1
"""


class RedisActivityStage:
    """The Redis side of the hand-off: counts staged per token-day, and the lock one flusher takes to write them."""

    def __init__(self, client: redis.Redis, prefix: str = "authserver") -> None:
        self.counts, self.last = f"{prefix}:activity:counts", f"{prefix}:activity:last"
        self.batch_prefix, self.lock = f"{prefix}:activity:batch:", f"{prefix}:activity:lock"

        self.redis = client  # the app's one client (redis_client.py)
        self._set_max = self.redis.register_script(_SET_MAX)
        self._take = self.redis.register_script(_TAKE)

    def hand_off(self, buffer: ActivityBuffer) -> int:
        """Move everything buffered in this process to Redis (put back on failure)."""
        pending = buffer.take()
        if not pending:
            return 0
        try:
            pipe = self.redis.pipeline(transaction=True)  # counts and last use land together
            for jti, entry in pending.items():
                for day, count in entry.per_day.items():
                    pipe.hincrby(self.counts, f"{jti}|{day.isoformat()}", count)
                self._set_max(
                    keys=[self.last],
                    args=[jti, int(entry.last_used_at.timestamp()), entry.last_used_by or ""],
                    client=pipe,
                )
            pipe.execute()
        except Exception:
            buffer.put_back(pending)
            raise
        return len(pending)

    def take_batch(self) -> tuple[str, dict[str, PendingUse]] | None:
        """Under the lock: the oldest leftover batch, or the staged counts renamed into a new batch."""
        if not self.redis.set(self.lock, "1", nx=True, px=10_000):
            return None
        leftovers = sorted(self.redis.scan_iter(f"{self.batch_prefix}*:counts"))
        if leftovers:
            batch = leftovers[0].decode().removesuffix(":counts")
        else:
            batch = self.batch_prefix + secrets.token_hex(8)
            try:
                taken = self._take(keys=[self.counts, self.last, f"{batch}:counts", f"{batch}:last"])
            except Exception:
                self.release()
                raise
            if not taken:
                self.release()
                return None
        return batch, self._read_batch(batch)

    def _read_batch(self, batch: str) -> dict[str, PendingUse]:
        # The shared client returns bytes (redis_client.py sets no decode_responses).
        counts = cast(dict[bytes, bytes], self.redis.hgetall(f"{batch}:counts"))
        last = cast(dict[bytes, bytes], self.redis.hgetall(f"{batch}:last"))
        pending: dict[str, PendingUse] = {}
        for field, value in counts.items():
            jti, day = field.decode().split("|")
            stamp, _, client = last.get(jti.encode(), b"").decode().partition("|")
            used_at = datetime.fromtimestamp(int(stamp), UTC) if stamp else datetime.now(UTC).replace(microsecond=0)
            entry = pending.setdefault(jti, PendingUse(used_at, client or None))
            entry.per_day[date.fromisoformat(day)] = entry.per_day.get(date.fromisoformat(day), 0) + int(value)
        return pending

    def finish_batch(self, batch: str) -> None:
        self.redis.delete(f"{batch}:counts", f"{batch}:last", self.lock)

    def release(self) -> None:
        self.redis.delete(self.lock)
