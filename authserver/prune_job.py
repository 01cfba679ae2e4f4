"""The periodic prune: every ``AUTHSERVER_PRUNE_INTERVAL`` each serving process runs ``retention.prune`` once.

No lease or lock: each process runs it, at a random point of its own interval. The deletes name their rows by
primary key and in batches, so two processes pruning at once only share the work (retention.py), and a process
finding nothing to delete costs a few indexed reads. Also deletes webhook keys whose overlap has ended.
"""

from __future__ import annotations

import logging
import random
import threading

from flask import Flask

from .extensions import db
from .principals import SYSTEM
from .retention import RetentionSettings, prune
from .services import services

log = logging.getLogger("authserver.retention")


class PruneJob:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.interval: int | None = app.config["AUTHSERVER_PRUNE_INTERVAL"]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PruneJob:
        if self.interval is not None:
            self._thread = threading.Thread(target=self._loop, name="authserver-prune", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        assert self.interval is not None
        # The first run too waits most of an interval, at a random point: workers started together spread out.
        delay = self.interval * random.uniform(0.5, 1.0)  # noqa: S311 (spreading work, not a secret)
        while not self._stop.wait(delay):
            self.run_once()
            delay = self.interval * random.uniform(0.9, 1.1)  # noqa: S311

    def run_once(self) -> dict[str, int] | None:
        with self.app.app_context():
            try:
                found = services(self.app)
                now = found.clock.now()
                counts = prune(now, RetentionSettings.from_config(self.app.config), actor=SYSTEM)
                found.webhook_keys.remove_spent_keys(now)
            except Exception:
                db.session.rollback()
                log.exception("prune failed; will try again in AUTHSERVER_PRUNE_INTERVAL")
                return None
        if any(counts.values()):
            log.info("pruned %s", " ".join(f"{kind}={count}" for kind, count in counts.items()))
        return counts
