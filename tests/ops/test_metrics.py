"""Each application metric, read back from ``GET /metrics`` through the Flask test client (one process, the in-memory
set). Counters are process-wide, so every test compares before and after."""

from __future__ import annotations

import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from authserver import create_app
from authserver.activity import ActivityBuffer, Flusher
from authserver.clock import FrozenClock
from authserver.integrations import expire_now
from authserver.principals import OPERATOR
from authserver.unit_of_work import unit_of_work
from authserver.webhooks.worker import WebhookWorker
from tests.factories import basic, make_integration
from tests.support.config import make_app_config
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def clock():
    """Real time, frozen (the webhook receiver checks nothing, but a signature's timestamp is near now)."""
    return FrozenClock()


@pytest.fixture
def app_config(app_config):
    return {
        **app_config,
        "AUTHSERVER_RATE_LIMIT_REVOCATION": "1/1m",
        "AUTHSERVER_WEBHOOK_ALLOW_HTTP": True,
        "AUTHSERVER_WEBHOOK_ALLOW_HOSTS": ["127.0.0.1"],
        "AUTHSERVER_WEBHOOK_TIMEOUT": 2.0,
    }


def value(client, name: str, **labels: str) -> float:
    """One sample of the scrape (0 when absent); a sample's labels must include ``labels``."""
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


def test_requests_are_counted_by_endpoint_method_and_status_and_timed(client):
    ok = {"endpoint": "health.healthz", "method": "GET", "status": "200"}
    before = value(client, "authserver_http_requests_total", **ok)
    timed = value(client, "authserver_http_request_duration_seconds_count", endpoint="health.healthz", method="GET")
    unmatched = value(client, "authserver_http_requests_total", endpoint="unmatched", method="other", status="404")
    client.get("/healthz")
    client.get("/healthz")
    client.open("/no-such-page", method="BREW")  # neither path nor method may grow the label space
    assert value(client, "authserver_http_requests_total", **ok) == before + 2
    assert (
        value(client, "authserver_http_request_duration_seconds_count", endpoint="health.healthz", method="GET")
        == timed + 2
    )
    assert (
        value(client, "authserver_http_requests_total", endpoint="unmatched", method="other", status="404")
        == unmatched + 1
    )


def test_introspection_outcomes_are_counted_on_the_direct_path(client, world):
    results = ("active", "inactive", "refused")
    before = {result: value(client, "authserver_introspections_total", result=result) for result in results}
    client.post("/oauth/introspect", data={"token": world.agency.token}, headers=world.rs_headers)
    client.post("/oauth/introspect", data={"token": "garbage"}, headers=world.rs_headers)
    client.post("/oauth/introspect", data={"token": "garbage"}, headers=basic("nobody", "wrong"))
    for result in results:
        assert value(client, "authserver_introspections_total", result=result) == before[result] + 1


def test_database_errors_are_counted_by_kind_and_introspection_as_error(tmp_path):
    app = create_app(make_app_config(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"))
    client = app.test_client()
    errors = value(client, "authserver_database_errors_total", kind="unavailable")
    failed = value(client, "authserver_introspections_total", result="error")
    assert client.get("/api/accounts", headers=basic("someone", "secret")).status_code == 503
    assert client.post("/oauth/introspect", data={"token": "x"}, headers=basic("a", "b")).status_code == 503
    assert value(client, "authserver_database_errors_total", kind="unavailable") == errors + 2
    assert value(client, "authserver_introspections_total", result="error") == failed + 1


def test_rate_limit_refusals_are_counted_by_limit(client, world, services, clock):
    revocations = value(client, "authserver_rate_limit_refusals_total", limit="revocation")
    sign_ins = value(client, "authserver_rate_limit_refusals_total", limit="signin_account")
    assert client.post("/oauth/revoke", data={"token": "x"}, headers=world.agency.admin_headers).status_code == 200
    assert client.post("/oauth/revoke", data={"token": "x"}, headers=world.agency.admin_headers).status_code == 429
    limiter = services.signin_limiter
    while limiter.try_attempt(email="someone@example.com", address=None, now=clock.now()) is None:
        pass
    assert value(client, "authserver_rate_limit_refusals_total", limit="revocation") == revocations + 1
    assert value(client, "authserver_rate_limit_refusals_total", limit="signin_account") == sign_ins + 1


def test_feed_subscribers_count_open_long_polls_and_lag_is_the_oldest_events_age(app, client, world, clock):
    cursor = client.get("/oauth/events", headers=world.rs_headers).get_json()["cursor"]
    waiting = value(client, "authserver_feed_subscribers")
    answered = {}

    def long_poll():
        answered["body"] = app.test_client().get(f"/oauth/events?after={cursor}&wait=5", headers=world.rs_headers)

    poll = threading.Thread(target=long_poll)
    poll.start()
    deadline = time.monotonic() + 5
    while value(client, "authserver_feed_subscribers") != waiting + 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert value(client, "authserver_feed_subscribers") == waiting + 1
    lag_count = value(client, "authserver_feed_delivery_lag_seconds_count")
    lag_sum = value(client, "authserver_feed_delivery_lag_seconds_sum")
    with unit_of_work():
        expire_now(OPERATOR, world.other.integration_id, now=clock.now())
    poll.join(timeout=10)
    assert answered["body"].get_json()["events"]
    assert value(client, "authserver_feed_subscribers") == waiting

    clock.advance(3)  # an event three seconds old when a late reader takes it
    client.get(f"/oauth/events?after={cursor}", headers=world.rs_headers)
    assert value(client, "authserver_feed_delivery_lag_seconds_count") == lag_count + 2
    assert value(client, "authserver_feed_delivery_lag_seconds_sum") == lag_sum + 3


def test_flush_lag_is_the_age_of_the_oldest_unflushed_use(app, client, world, clock):
    buffer = ActivityBuffer()
    flusher = Flusher(app, buffer, interval=3600)
    buffer.record(world.agency.jti, None, clock.now())
    time.sleep(0.3)
    buffer.record(world.agency.jti, None, clock.now())  # a later use does not make the batch younger
    flusher.flush_once()
    lag = value(client, "authserver_activity_flush_lag_seconds")
    assert 0.3 <= lag < 5
    flusher.flush_once()  # nothing waits now
    assert value(client, "authserver_activity_flush_lag_seconds") == 0


def test_a_failed_flush_keeps_its_age():
    buffer = ActivityBuffer()
    buffer.record("jti", None, FrozenClock().now())
    since = buffer.waiting_since()
    taken = buffer.take()
    assert buffer.waiting_since() is None
    buffer.put_back(taken)
    assert buffer.waiting_since() == since


def test_webhook_deliveries_are_counted_by_outcome_and_failures_by_reason(app, client, world, clock):
    retrying = value(client, "authserver_webhook_deliveries_total", outcome="retrying")
    succeeded = value(client, "authserver_webhook_deliveries_total", outcome="succeeded")
    http_5xx = value(client, "authserver_webhook_delivery_failures_total", reason="http_5xx")
    with WebhookReceiver([503]) as receiver:
        response = client.post(
            f"/api/accounts/{world.agency.account_id}/webhooks",
            headers=world.agency.admin_headers,
            json={"url": receiver.url, "events": ["integration.created"]},
        )
        assert response.status_code == 201
        make_integration(clock, world.agency.account_id)
        assert WebhookWorker(app).run_once() == 1
        clock.advance(3600)
        assert WebhookWorker(app).run_once() == 1
    assert value(client, "authserver_webhook_deliveries_total", outcome="retrying") == retrying + 1
    assert value(client, "authserver_webhook_delivery_failures_total", reason="http_5xx") == http_5xx + 1
    assert value(client, "authserver_webhook_deliveries_total", outcome="succeeded") == succeeded + 1


def test_signing_key_age_is_read_from_the_keystore_at_scrape_time(client, clock):
    age = value(client, "authserver_signing_key_age_seconds")
    clock.advance(100)
    assert value(client, "authserver_signing_key_age_seconds") == age + 100
