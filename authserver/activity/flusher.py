"""The background thread that moves counted uses to the database (directly, or staged through Redis)."""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from ..extensions import db
from ..metrics import set_flush_lag
from .buffer import ActivityBuffer
from .redis_stage import HANDOFF_INTERVAL, RedisActivityStage
from .usage import flush, write_usage

log = logging.getLogger(__name__)


class Flusher:
    """The background thread that writes buffered activity to the database every few seconds.

    With a Redis stage, the buffer is handed to Redis every quarter second (what a dead instance can lose) and
    one instance at a time moves the staged counts to the database each interval."""

    def __init__(
        self, app: Flask, buffer: ActivityBuffer, interval: float, stage: RedisActivityStage | None = None
    ) -> None:
        self.app, self.buffer, self.interval, self.stage = app, buffer, interval, stage
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="activity-flusher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        if self.stage is None:
            while not self._stop.wait(self.interval):
                self.flush_once()
            return
        ticks_per_flush = max(1, round(self.interval / HANDOFF_INTERVAL))
        tick = 0
        while not self._stop.wait(HANDOFF_INTERVAL):
            self.hand_off()
            tick += 1
            if tick % ticks_per_flush == 0:
                self.flush_once()

    def hand_off(self) -> None:
        observe_flush_lag(self.buffer)
        try:
            assert self.stage is not None, "hand_off needs a Redis stage"
            self.stage.hand_off(self.buffer)
        except Exception as exc:  # Redis away: counts stay in this process's buffer
            log.warning("activity hand-off to redis failed: %s", exc.__class__.__name__)

    def flush_once(self) -> int:
        if self.stage is None:  # with a stage, this process's buffer leaves at hand-off
            observe_flush_lag(self.buffer)
        with self.app.app_context():
            try:
                if self.stage is None:
                    return flush(self.buffer)
                return self._flush_stage(self.stage)
            except Exception as exc:  # the database may be away; counts stay buffered
                db.session.rollback()
                log.warning("activity flush failed, will retry: %s", exc.__class__.__name__)
                return 0

    def _flush_stage(self, stage: RedisActivityStage) -> int:
        taken = stage.take_batch()
        if taken is None:
            return 0
        batch, pending = taken
        try:
            write_usage(pending)
        except Exception:
            stage.release()  # the batch stays in Redis for the next attempt
            raise
        stage.finish_batch(batch)
        return len(pending)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 5)
        if self.stage is not None:
            self.hand_off()
        self.flush_once()


def observe_flush_lag(buffer: ActivityBuffer) -> None:
    """The age of the oldest use about to leave this process's memory (0 when none waits); a failing database
    makes it grow, since a failed batch keeps its age."""
    since = buffer.waiting_since()
    set_flush_lag(0.0 if since is None else time.monotonic() - since)
