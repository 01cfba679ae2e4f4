"""Wall-clock time as a dependency, so expiry decisions can be tested by moving a running service's clock.

Expiry is judged on the wall clock (``exp`` and ``ends_at`` are epoch seconds); cache lifetimes use
``time.monotonic`` directly, since they measure how long ago *this process* learned something.
"""

from __future__ import annotations

import os
import threading
import time


class SystemClock:
    def time(self) -> float:
        return time.time()


class OffsetFileClock:
    """System time plus an offset (seconds) read from a file whenever the file changes.

    Only for end-to-end tests (resource_demo's RESOURCE_DEMO_CLOCK_OFFSET_FILE): it lets them move a service's
    clock together with the authorization server's. Never in production."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._mtime: int | None = None
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        try:
            mtime = os.stat(self.path).st_mtime_ns
            if mtime != self._mtime:
                with self._lock, open(self.path) as handle:
                    self._offset = float(handle.read().strip() or 0)
                    self._mtime = mtime
        except (OSError, ValueError):
            self._offset = 0.0
        return time.time() + self._offset
