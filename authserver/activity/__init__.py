"""Token activity: uses counted in memory (``buffer``), optionally staged through Redis (``redis_stage``), written
in batches by a background thread (``flusher``) and read back per day (``usage``).

Imports flow one way: ``buffer`` imports nothing here; ``redis_stage``, ``batch_writes`` (the flush's two statements)
and ``usage`` import ``buffer``, ``usage`` imports ``batch_writes``; ``flusher`` imports ``usage`` and
``redis_stage``. Nothing in the package imports this ``__init__``.
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
