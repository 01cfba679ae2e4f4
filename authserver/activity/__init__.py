"""Token activity: uses counted in memory (``buffer``), optionally staged through Redis (``redis_stage``), written
in batches by a background thread (``flusher``) and read back per day (``usage``).

Imports flow one way: ``buffer`` imports nothing here; ``redis_stage`` and ``usage`` import ``buffer``; ``flusher``
imports all three. Nothing in the package imports this ``__init__``.
"""

from .buffer import ActivityBuffer, PendingUse
from .flusher import Flusher
from .redis_stage import HANDOFF_INTERVAL, RedisActivityStage
from .usage import RETENTION_DAYS, flush, usage_by_day, write_usage

__all__ = [
    "HANDOFF_INTERVAL",
    "RETENTION_DAYS",
    "ActivityBuffer",
    "Flusher",
    "PendingUse",
    "RedisActivityStage",
    "flush",
    "usage_by_day",
    "write_usage",
]
