"""A daemon thread with a clean stop: the feed follower and the usage reporter run on it."""

from __future__ import annotations

import threading


class BackgroundLoop:
    name = "authserver-resource-worker"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self.run, name=self.name, daemon=True)
            self._thread.start()

    join_timeout = 5.0  # how long stop() waits for the thread to finish its current step

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.join_timeout)
            self._thread = None
        self.stopped()

    def stopping(self) -> bool:
        return self._stop.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait, waking early on stop; True if the loop should end."""
        return self._stop.wait(seconds)

    def run(self) -> None:  # pragma: no cover - subclasses implement
        raise NotImplementedError

    def stopped(self) -> None:
        """Hook for final work once the thread has ended (e.g. a last flush)."""
