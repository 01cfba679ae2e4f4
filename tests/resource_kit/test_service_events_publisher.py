"""The kit's ServiceEvents publisher against a real HTTP server on 127.0.0.1 answering a script of statuses: a
retry carries the same id (so the authorization server delivers once), refusals are dropped, the queue is bounded.
The server's own side (idempotency, refusals) is tested in tests/http/test_service_events.py."""

from __future__ import annotations

import time

import pytest

from authserver_resource import Settings
from authserver_resource.service_events import ServiceEvents
from tests.support.webhook_receiver import WebhookReceiver


def publisher_for(receiver: WebhookReceiver, **kwargs) -> ServiceEvents:
    issuer = receiver.url.removesuffix("/hooks")
    settings = Settings(issuer=issuer, client_id="crm", client_secret="s3cret", http_timeout=2)  # noqa: S106
    return ServiceEvents(settings, **kwargs)


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def receiver():
    with WebhookReceiver([503, 500], default_status=202) as running:
        yield running


def test_a_failed_publication_is_retried_with_the_same_id_until_accepted(receiver):
    events = publisher_for(receiver, retry_base=0.05)
    events.start()
    try:
        event_id = events.publish("contact.created", "acc_1", {"id": "c1"})
        wait_until(lambda: events.sent == 1)
    finally:
        events.stop()
    assert [r.path for r in receiver.requests] == ["/api/service-events"] * 3
    assert {r.payload["id"] for r in receiver.requests} == {event_id}
    assert receiver.requests[0].headers["authorization"].startswith("Basic ")
    assert receiver.requests[0].payload["type"] == "contact.created"


def test_a_refused_event_is_dropped_and_the_next_one_goes(caplog):
    with WebhookReceiver([403, 403], default_status=202) as receiver:
        events = publisher_for(receiver)
        events.start()
        try:
            events.publish("contact.created", "acc_1", {"id": "c1"}, id="first")
            events.publish("contact.updated", "acc_1", {"id": "c1"}, id="second")
            events.publish("contact.deleted", "acc_1", {"id": "c1"}, id="third")
            wait_until(lambda: events.sent == 1)
        finally:
            events.stop()
    assert [r.payload["id"] for r in receiver.requests] == ["first", "second", "third"]
    assert (events.refused, events.pending) == (2, 0)
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "refused (403)" in r.getMessage()]
    assert len(warnings) == 1  # an unbound client is refused every time: said once, not per event


def test_publish_never_blocks_and_the_queue_is_bounded(receiver):
    events = publisher_for(receiver, max_pending=2)  # not started: nothing is sent
    started = time.monotonic()
    ids = [events.publish("contact.updated", "acc_1", {"id": str(n)}) for n in range(3)]
    assert time.monotonic() - started < 0.1
    assert ids[2] is None and None not in ids[:2]
    assert (events.pending, events.dropped) == (2, 1)
    assert receiver.requests == []
