"""First come, first served for the hot path's Python work in one worker process.

Measured (docs/performance.md): with 8 request threads per worker under load, CPython hands the GIL to whichever
waiting thread wakes first, so an introspection could wait behind many that arrived after it (p99 12 ms at 16
connections, for ~0.25 ms of work). Admitting them one at a time in arrival order, the thread holding the GIL is
always the oldest request's: p99 under 5 ms at the same throughput. A request steps out of the gate while it
waits on the database (``stepped_out``), so a network round trip never holds the line up, and comes back first.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class FairGate:
    """Admits ``size`` holders at a time; the others wait in arrival order and each is handed its slot directly
    (no stampede of woken threads, no newcomer overtaking them)."""

    def __init__(self, size: int = 1) -> None:
        self._free = size
        self._lock = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()

    def enter(self, *, first: bool = False) -> None:
        with self._lock:
            if self._free > 0:
                self._free -= 1
                return
            mine = threading.Lock()
            mine.acquire()
            if first:
                self._waiting.appendleft(mine)
            else:
                self._waiting.append(mine)
        mine.acquire()  # released by leave(), which hands this thread the slot

    def leave(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().release()
            else:
                self._free += 1

    def __enter__(self) -> FairGate:
        """``with gate:`` holds it for the block, and lets ``stepped_out`` inside the block find it."""
        self.enter()
        _holding.gate = self
        return self

    def __exit__(self, *exc_info) -> None:
        _holding.gate = None
        self.leave()


_holding = threading.local()


@contextmanager
def stepped_out() -> Iterator[None]:
    """Around a blocking wait (a database round trip): the next request goes on meanwhile; this one is first in
    line when it is back. Does nothing on a thread that holds no gate."""
    gate = getattr(_holding, "gate", None)
    if gate is None:
        yield
        return
    _holding.gate = None
    gate.leave()
    try:
        yield
    finally:
        gate.enter(first=True)
        _holding.gate = gate
