"""The hot path's gate: one holder at a time, waiters served in arrival order, a step out comes back first."""

from __future__ import annotations

import threading
import time

from authserver.hotpath.fair_gate import NOT_GATED, FairGate


def _wait_until_waiting(gate: FairGate, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(gate._waiting) < count:
        assert time.monotonic() < deadline, "waiters never queued"
        time.sleep(0.001)


def _queue_holders(gate: FairGate, names: list[str], order: list[str]) -> list[threading.Thread]:
    threads = []
    for position, name in enumerate(names, start=1):

        def hold(name=name):
            with gate:
                order.append(name)

        thread = threading.Thread(target=hold)
        thread.start()
        _wait_until_waiting(gate, position)  # each queues behind the previous one: a known arrival order
        threads.append(thread)
    return threads


def test_waiters_are_admitted_in_arrival_order_one_at_a_time():
    gate, order = FairGate(1), []
    gate.enter()
    threads = _queue_holders(gate, [f"r{i}" for i in range(8)], order)
    assert order == []  # nobody got in while the gate was held
    gate.leave()
    for thread in threads:
        thread.join(5)
    assert order == [f"r{i}" for i in range(8)]


def test_a_holder_stepping_out_lets_the_next_in_and_comes_back_first():
    gate, order = FairGate(1), []
    stepped, back = threading.Event(), threading.Event()

    def slow_reader():
        with gate:
            order.append("reader starts")
            with gate.stepped_out:
                stepped.set()
                back.wait(5)  # the database round trip
            order.append("reader finishes")

    reader = threading.Thread(target=slow_reader)
    gate.enter()  # hold the gate so that the reader, then two more, queue in a known order
    reader.start()
    _wait_until_waiting(gate, 1)
    others = _queue_holders(gate, ["second", "third"], order)
    gate.leave()
    assert stepped.wait(5)
    deadline = time.monotonic() + 5
    while order[-1:] != ["third"] and time.monotonic() < deadline:  # both ran while the reader was out
        time.sleep(0.001)
    back.set()
    reader.join(5)
    for thread in others:
        thread.join(5)
    assert order == ["reader starts", "second", "third", "reader finishes"]


def test_stepping_out_comes_back_ahead_of_requests_already_waiting():
    gate, order = FairGate(1), []
    out, come_back = threading.Event(), threading.Event()

    def holder():
        with gate:
            with gate.stepped_out:
                out.set()
                come_back.wait(5)
            order.append("holder back")

    thread = threading.Thread(target=holder)
    thread.start()
    assert out.wait(5)
    gate.enter()  # another request took the slot while the holder was out ...
    newcomers = _queue_holders(gate, ["newcomer"], order)  # ... and one more queued meanwhile
    come_back.set()
    _wait_until_waiting(gate, 2)  # the holder is back in line
    gate.leave()
    thread.join(5)
    for newcomer in newcomers:
        newcomer.join(5)
    assert order == ["holder back", "newcomer"]


def test_the_default_wait_of_a_caller_holding_no_gate_lets_nobody_in():
    """Layers below take ``wait=NOT_GATED`` unless a gate holder hands its step-out down: entering it never opens
    a gate that is held, and it can be entered again and again (one shared instance)."""
    gate, order = FairGate(1), []
    gate.enter()
    (waiter,) = _queue_holders(gate, ["waiter"], order)
    for _ in range(2):
        with NOT_GATED:
            time.sleep(0.01)
    assert order == [] and len(gate._waiting) == 1  # still held: the waiter never got in
    gate.leave()
    waiter.join(5)
    assert order == ["waiter"]


def test_a_step_out_handed_down_opens_only_its_own_gate():
    """The step-out is bound to the gate it came from: another gate held meanwhile stays held."""
    mine, other, order = FairGate(1), FairGate(1), []
    other.enter()
    (waiting_on_other,) = _queue_holders(other, ["other"], order)
    mine.enter()
    with mine.stepped_out:
        assert mine._free == 1  # out of my gate while waiting ...
        time.sleep(0.01)
    assert mine._free == 0  # ... and back in afterwards
    assert order == [] and len(other._waiting) == 1
    mine.leave()
    other.leave()
    waiting_on_other.join(5)
    assert order == ["other"]
