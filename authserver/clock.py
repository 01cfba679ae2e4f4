"""Time as a dependency: the domain asks a clock for ``now`` so tests can move time to the second."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the domain needs of a clock: the current moment, aware UTC, whole seconds."""

    def now(self) -> datetime: ...


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class SystemClock:
    """The system's time. An introspection asks ``now`` several times; the answer changes once a second, so the
    moment of the current second is made once and handed out again (the same value ``utcnow`` gives: whole
    seconds of the same clock)."""

    def __init__(self) -> None:
        self._second: tuple[int, datetime] = (0, utcnow())

    def now(self) -> datetime:
        whole = int(time.time())
        kept = self._second
        if kept[0] != whole:
            kept = self._second = (whole, datetime.fromtimestamp(whole, UTC))
        return kept[1]


class FrozenClock:
    """A clock that only moves when told to (tests, and the server started with a test clock)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or utcnow()).replace(microsecond=0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment


class OffsetFileClock:
    """System time plus an offset (seconds) read from a file: lets end-to-end tests move a *running* server's
    time. Only used when AUTHSERVER_CLOCK_OFFSET_FILE is set; never in production."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._mtime: float | None = None
        self._offset = 0.0

    def now(self) -> datetime:
        try:
            mtime = os.stat(self.path).st_mtime_ns
            if mtime != self._mtime:
                with open(self.path) as handle:
                    self._offset = float(handle.read().strip() or 0)
                self._mtime = mtime
        except (OSError, ValueError):
            self._offset = 0.0
        # Whole seconds like SystemClock: truncate after adding the offset, which may be fractional.
        return (datetime.now(UTC) + timedelta(seconds=self._offset)).replace(microsecond=0)
