"""The system clock's kept second and the kept process id give exactly what they replace."""

from __future__ import annotations

import os
from datetime import UTC

from authserver.clock import SystemClock, utcnow
from authserver.process_id import current_pid


def test_system_clock_gives_the_current_whole_second_in_utc():
    clock = SystemClock()
    for _ in range(5_000):  # many calls within one second, and sometimes a change of second
        before = utcnow()
        now = clock.now()
        after = utcnow()
        assert before <= now <= after
        assert now.microsecond == 0
        assert now.tzinfo is UTC


def test_system_clock_moves_on_with_the_second(monkeypatch):
    import authserver.clock as clock_module

    clock = SystemClock()
    monkeypatch.setattr(clock_module.time, "time", lambda: 1_800_000_000.9)
    first = clock.now()
    monkeypatch.setattr(clock_module.time, "time", lambda: 1_800_000_001.0)
    second = clock.now()
    assert first.timestamp() == 1_800_000_000
    assert second.timestamp() == 1_800_000_001


def test_process_id_is_this_process_and_renewed_in_a_forked_child():
    assert current_pid() == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read)
        os.write(write, f"{current_pid()} {os.getpid()}".encode())
        os._exit(0)
    os.close(write)
    seen = os.read(read, 100).decode().split()
    os.close(read)
    os.waitpid(child, 0)
    assert seen[0] == seen[1]
    assert int(seen[0]) != os.getpid()
