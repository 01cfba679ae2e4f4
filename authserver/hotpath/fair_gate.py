"""First come, first served for the hot path's Python work in one worker process.

Measured (docs/performance.md): with 8 request threads per worker under load, CPython hands the GIL to whichever
waiting thread wakes first, so an introspection could wait behind many that arrived after it (p99 12 ms at 16
connections, for ~0.25 ms of work). Admitting them one at a time in arrival order, the thread holding the GIL is
always the oldest request's: p99 under 5 ms at the same throughput. A request steps out of the gate while it
waits on the network (the gate's ``stepped_out``), so a round trip never holds the line up, and comes back first.

The step-out is handed down explicitly: the direct path puts ``gate.stepped_out`` on the request it builds, and
each layer passes it on as a ``wait`` argument to whatever blocks (a prepared read, a Redis lease). Everything else
gets ``NOT_GATED``, which does nothing; no lower layer can find a gate that was not given to it.
"""

from __future__ import annotations

import threading
from collections import deque
from contextlib import AbstractContextManager, nullcontext

# Entered around a blocking wait (``with wait:``): a reusable context manager, entered by one thread at a time.
WaitHook = AbstractContextManager[None]

NOT_GATED: WaitHook = nullcontext()  # for callers that hold no gate: a wait is just a wait


class FairGate:
    """Admits ``size`` holders at a time; the others wait in arrival order and each is handed its slot directly
    (no stampede of woken threads, no newcomer overtaking them)."""

    def __init__(self, size: int = 1) -> None:
        self._free = size
        self._lock = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()
        self.stepped_out: WaitHook = SteppedOut(self)

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
        self.enter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.leave()


class SteppedOut:
    """A holder's blocking wait (a database or Redis round trip): the next request goes on meanwhile; this one is
    first in line when it is back. Only a thread that holds the gate may enter it."""

    __slots__ = ("_gate",)

    def __init__(self, gate: FairGate) -> None:
        self._gate = gate

    def __enter__(self) -> None:
        self._gate.leave()

    def __exit__(self, *exc_info) -> None:
        self._gate.enter(first=True)
