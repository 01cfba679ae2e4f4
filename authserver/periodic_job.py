"""A job each serving process runs on a timer, in its own daemon thread: the prune, the expiry scan, the expiry mail.

Every process runs each job; the jobs themselves make concurrent passes harmless (see each one). Passes start at
a random point of the interval so that workers started together spread out, and a failed pass is logged and tried
again at the next one: a background job never takes the server down.
"""

from __future__ import annotations

import logging
import random
import threading

from flask import Flask

from .extensions import db


class PeriodicJob:
    """Subclasses set ``name`` and ``interval`` (seconds; None switches the job off) and implement ``work``."""

    name = "job"
    first_run: tuple[float, float] | None = None  # seconds after start; None: a random point of the first interval
    log = logging.getLogger("authserver")

    def __init__(self, app: Flask, interval: float | None) -> None:
        self.app = app
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PeriodicJob:
        if self.interval is not None:
            self._thread = threading.Thread(target=self._loop, name=f"authserver-{self.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        assert self.interval is not None
        low, high = self.first_run or (self.interval * 0.5, self.interval)
        delay = random.uniform(low, high)  # noqa: S311 (spreading work, not a secret)
        while not self._stop.wait(delay):
            self.run_once()
            delay = self.interval * random.uniform(0.9, 1.1)  # noqa: S311

    def run_once(self):
        """One pass in an app context; None if it failed (logged, rolled back, retried at the next pass)."""
        with self.app.app_context():
            try:
                return self.work()
            except Exception:
                db.session.rollback()
                self.log.exception("%s failed; will try again in %ss", self.name, self.interval)
                return None

    def work(self):
        raise NotImplementedError
