"""The periodic prune: every ``AUTHSERVER_PRUNE_INTERVAL`` each serving process runs ``retention.prune`` once.

No lease or lock: each process runs it, at a random point of its own interval. The deletes name their rows by
primary key and in batches, so two processes pruning at once only share the work (retention.py), and a process
finding nothing to delete costs a few indexed reads. Also deletes webhook keys whose overlap has ended.
"""

from __future__ import annotations

import logging

from flask import Flask

from .periodic_job import PeriodicJob
from .principals import SYSTEM
from .retention import RetentionSettings, prune
from .services import services

log = logging.getLogger("authserver.retention")


class PruneJob(PeriodicJob):
    name = "prune"
    log = log

    def __init__(self, app: Flask) -> None:
        super().__init__(app, app.config["AUTHSERVER_PRUNE_INTERVAL"])

    def work(self) -> dict[str, int]:
        found = services(self.app)
        now = found.clock.now()
        counts = prune(now, RetentionSettings.from_config(self.app.config), actor=SYSTEM)
        found.webhook_keys.remove_spent_keys(now)
        if any(counts.values()):
            log.info("pruned %s", " ".join(f"{kind}={count}" for kind, count in counts.items()))
        return counts
